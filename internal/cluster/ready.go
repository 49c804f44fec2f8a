package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"google.golang.org/protobuf/types/known/durationpb"
)

const (
	// readyTimeout bounds Start's wait when ctx has no earlier deadline.
	readyTimeout = 3 * time.Minute
	// registrySettle covers one refresh of the namespace registry each
	// history and matching process keeps (system.namespaceCacheRefreshInterval,
	// 2 s): after a namespace or search attribute change the frontend is seen
	// to know, they know it too once this has passed.
	registrySettle = 2500 * time.Millisecond
	// probeIDs is how many absent workflow IDs are described to reach every
	// history shard (IDs hash to shards; 32 random-looking IDs miss one of 4
	// shards with a chance of 4·(3/4)^32, about 4 in 100,000).
	probeIDs = 32
)

// waitReady waits until the cluster serves payflow: the frontend is healthy,
// the namespace and payflow's search attributes exist and the frontend
// knows them, history answers for the shards (a described workflow that
// does not exist comes back NotFound, not Unavailable or NamespaceNotFound)
// and matching answers for a task queue.
func (c *Cluster) waitReady(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, readyTimeout)
		defer cancel()
	}
	cl, err := client.NewLazyClient(client.Options{
		HostPort:  c.Address,
		Namespace: c.Namespace,
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	})
	if err != nil {
		return err
	}
	defer cl.Close()

	last := "not tried"
	try := func(what string, f func(context.Context) error) error {
		for {
			if err := c.exitedEarly(); err != nil {
				return err
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := f(cctx)
			cancel()
			if err == nil {
				return nil
			}
			last = what + ": " + err.Error()
			select {
			case <-ctx.Done():
				return fmt.Errorf("cluster: not ready (%w); last: %s; logs in %s", ctx.Err(), last, c.opts.Dir+"/logs")
			case <-time.After(250 * time.Millisecond):
			}
		}
	}

	if err := try("frontend health", func(ctx context.Context) error {
		_, err := cl.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	}); err != nil {
		return err
	}
	c.opts.step("frontend healthy")

	changed := false
	if err := try("register namespace "+c.Namespace, func(ctx context.Context) error {
		_, err := cl.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace:                        c.Namespace,
			Description:                      "payflow",
			WorkflowExecutionRetentionPeriod: durationpb.New(c.opts.Retention),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if errors.As(err, &exists) {
			return nil
		}
		if err == nil {
			changed = true
			c.opts.step("namespace %s registered (retention %s)", c.Namespace, c.opts.Retention)
		}
		return err
	}); err != nil {
		return err
	}

	if err := try("search attributes", func(ctx context.Context) error {
		d, err := cl.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: c.Namespace})
		if err != nil {
			return err
		}
		have := d.GetConfig().GetCustomSearchAttributeAliases()
		for _, name := range SearchAttributes {
			if slices.Contains(mapValues(have), name) {
				continue
			}
			// On SQL visibility an attribute is an alias of one of the
			// pre-allocated columns (Keyword01…10), kept in the namespace.
			if _, err := cl.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
				Namespace:        c.Namespace,
				SearchAttributes: map[string]enumspb.IndexedValueType{name: enumspb.INDEXED_VALUE_TYPE_KEYWORD},
			}); err != nil {
				var exists *serviceerror.AlreadyExists
				if !errors.As(err, &exists) {
					return fmt.Errorf("add %s: %w", name, err)
				}
			}
			changed = true
			c.opts.step("search attribute %s (Keyword) added", name)
		}
		return nil
	}); err != nil {
		return err
	}

	// The frontend resolves the aliases from its namespace registry: the
	// count succeeds once it knows the namespace and all three.
	var q []string
	for _, name := range SearchAttributes {
		q = append(q, name+` = "payflow-cluster-probe"`)
	}
	if err := try("frontend knows the search attributes", func(ctx context.Context) error {
		_, err := cl.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: c.Namespace, Query: strings.Join(q, " AND ")})
		return err
	}); err != nil {
		return err
	}
	if err := try("history shards", func(ctx context.Context) error {
		for i := range probeIDs {
			_, err := cl.DescribeWorkflowExecution(ctx, fmt.Sprintf("payflow-cluster-probe/%d", i), "")
			var nf *serviceerror.NotFound
			if !errors.As(err, &nf) {
				return fmt.Errorf("probe %d: %v", i, err)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := try("matching", func(ctx context.Context) error {
		_, err := cl.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
			Namespace:     c.Namespace,
			TaskQueue:     &taskqueuepb.TaskQueue{Name: "payflow-cluster-probe", Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
			TaskQueueType: enumspb.TASK_QUEUE_TYPE_WORKFLOW,
		})
		return err
	}); err != nil {
		return err
	}
	if changed {
		select {
		case <-time.After(registrySettle):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// SearchAttributes are payflow's search attributes, all Keyword: the names
// of routing.SearchAttributeNames (a test holds the two lists equal). They
// are written out here so that the cluster's tooling builds from
// deploy/temporal and this package alone: `make cluster-down` must work
// whatever state the rest of the tree is in.
var SearchAttributes = []string{"StripeCustomerID", "PayflowStatus", "PayflowDunningStage"}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
