package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// MicroResult is one go test -bench line.
type MicroResult struct {
	Name        string  `json:"name"`
	Iterations  int64   `json:"iterations"`
	NsPerOp     float64 `json:"ns_per_op"`
	BytesPerOp  int64   `json:"bytes_per_op"`
	AllocsPerOp int64   `json:"allocs_per_op"`
}

// runMicro runs the receiver's micro-benchmarks (webhook/bench_test.go).
func runMicro(ctx context.Context, cfg config) ([]MicroResult, error) {
	logf("micro: go test -bench ./webhook/ (benchtime %s)", cfg.MicroBenchtime)
	out, err := runCmd(ctx, 10*time.Minute, cfg.Root, os.Environ(), "go", "test", "-run", "^$", "-bench", ".",
		"-benchmem", "-benchtime", cfg.MicroBenchtime, "-count", "1", "./webhook/")
	if err != nil {
		return nil, fmt.Errorf("go test -bench: %v\n%s", err, tail(out, 40))
	}
	var res []MicroResult
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || f[3] != "ns/op" {
			continue
		}
		r := MicroResult{Name: strings.TrimPrefix(f[0], "Benchmark")}
		if i := strings.LastIndexByte(r.Name, '-'); i > 0 {
			r.Name = r.Name[:i] // the -GOMAXPROCS suffix
		}
		r.Iterations, _ = strconv.ParseInt(f[1], 10, 64)
		r.NsPerOp, _ = strconv.ParseFloat(f[2], 64)
		for i := 4; i+1 < len(f); i++ {
			switch f[i+1] {
			case "B/op":
				r.BytesPerOp, _ = strconv.ParseInt(f[i], 10, 64)
			case "allocs/op":
				r.AllocsPerOp, _ = strconv.ParseInt(f[i], 10, 64)
			}
		}
		res = append(res, r)
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("no benchmark results in the output:\n%s", tail(out, 20))
	}
	return res, nil
}

func tail(s string, lines int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}
