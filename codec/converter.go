package codec

import (
	"context"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/grpc"
)

// Converters are the data and failure converters of a Temporal client
// (client.Options.DataConverter and FailureConverter): Temporal's default
// payload converters with c applied to every payload; when c encrypts,
// failures carry their message and stack trace in their encoded attributes,
// encrypted like any payload ("Encoded failure" is what the server keeps),
// since an error message may quote an email address.
//
// Inside workflow code a payload that does not decode (a key missing from
// PAYFLOW_PAYLOAD_KEYS) panics instead of returning an error: the SDK drops
// a signal whose payload it cannot decode and lets the workflow go on (a
// Stripe event lost), while a panic fails the workflow task, which Temporal
// retries until a worker with the key takes it (the worker's default
// WorkflowPanicPolicy, BlockWorkflow). Activities, clients and the codec
// endpoints get an error.
func Converters(c *Codec) (converter.DataConverter, converter.FailureConverter) {
	dc := &dataConverter{
		DataConverter: converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c),
		inWorkflow:    converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), strictCodec{c}),
	}
	fc := temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter:          dc,
		EncodeCommonAttributes: c.Encrypts(),
	})
	return dc, fc
}

// dataConverter is the codec data converter, with its variant for
// workflow code (converter.ContextAware).
type dataConverter struct {
	converter.DataConverter
	inWorkflow converter.DataConverter
}

var (
	_ converter.ContextAware                          = (*dataConverter)(nil)
	_ converter.PayloadCodecProvider                  = (*dataConverter)(nil)
	_ converter.DataConverterWithSerializationContext = (*dataConverter)(nil)
)

// WithWorkflowContext is the converter of workflow code: strict.
func (d *dataConverter) WithWorkflowContext(workflow.Context) converter.DataConverter {
	return d.inWorkflow
}

// WithContext is the converter of activities: errors, as everywhere else.
func (d *dataConverter) WithContext(context.Context) converter.DataConverter { return d }

// WithSerializationContext keeps d: the codec does not vary by workflow.
func (d *dataConverter) WithSerializationContext(converter.SerializationContext) converter.DataConverter {
	return d
}

// Codec exposes the codec stage, as the SDK asks wrappers to.
func (d *dataConverter) Codec() converter.PayloadCodec {
	if p, ok := d.DataConverter.(converter.PayloadCodecProvider); ok {
		return p.Codec()
	}
	return nil
}

// strictCodec panics where Codec would return a decode error.
type strictCodec struct{ c *Codec }

func (s strictCodec) Encode(p []*commonpb.Payload) ([]*commonpb.Payload, error) { return s.c.Encode(p) }

func (s strictCodec) Decode(p []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out, err := s.c.Decode(p)
	if err != nil {
		panic(err)
	}
	return out, nil
}

// GRPCInterceptors decode (and encode) payloads and failures at the gRPC
// layer, for a client whose callers read raw history events: a support tool,
// a test. Such a client keeps Temporal's default converters; the failure
// interceptor comes first, as the SDK asks.
func GRPCInterceptors(c *Codec) ([]grpc.UnaryClientInterceptor, error) {
	dc := converter.GetDefaultDataConverter()
	failures, err := converter.NewFailureGRPCClientInterceptor(converter.NewFailureGRPCClientInterceptorOptions{
		DataConverter:          dc,
		EncodeCommonAttributes: true,
	})
	if err != nil {
		return nil, err
	}
	payloads, err := converter.NewPayloadCodecGRPCClientInterceptor(converter.PayloadCodecGRPCClientInterceptorOptions{
		Codecs: []converter.PayloadCodec{c},
	})
	if err != nil {
		return nil, err
	}
	return []grpc.UnaryClientInterceptor{failures, payloads}, nil
}
