// Command proxysync times the service proxy's sync: render the nftables
// script for N Services and apply it with one `nft -f`, first as a full
// rebuild (what a restart does) and then as the steady-state resync after
// one endpoint moved (render of all N plus the incremental apply). Run it inside a throwaway network namespace (bench/services/run.sh
// uses `unshare --net`); it refuses to run otherwise.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"time"

	"github.com/berth-dev/berth/internal/proxy"
	"github.com/berth-dev/berth/internal/proxy/nft"
)

func main() {
	services := flag.Int("services", 1000, "number of Services")
	endpoints := flag.Int("endpoints", 2, "endpoints per Service")
	rounds := flag.Int("rounds", 5, "steady-state syncs to time")
	dump := flag.String("dump", "", "write the first script to this file")
	flag.Parse()
	if os.Getenv("BERTH_BENCH_NETNS") != "1" {
		fmt.Fprintln(os.Stderr, "proxysync installs nftables rules: run it via bench/services/run.sh (unshare --net)")
		os.Exit(2)
	}
	ctx := context.Background()
	cfg := proxy.RenderConfig{Table: "berth-bench", ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16"), ServiceCIDR: netip.MustParsePrefix("10.96.0.0/12")}
	model := makeModel(*services, *endpoints)

	start := time.Now()
	script, objs := proxy.Render(cfg, model, nil)
	render := time.Since(start)
	size := len(script)
	if *dump != "" {
		if err := os.WriteFile(*dump, []byte(script), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	start = time.Now()
	if err := nft.Apply(ctx, script); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	first := time.Since(start)

	var syncs []time.Duration
	for r := range *rounds {
		// One endpoint moves, as a pod restart would do.
		model[r].Ports[0].Endpoints[0].IP = netip.AddrFrom4([4]byte{10, 250, byte(r), 1})
		start = time.Now()
		script, objs = proxy.Render(cfg, model, objs)
		if err := nft.Apply(ctx, script); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		syncs = append(syncs, time.Since(start))
	}
	sort.Slice(syncs, func(i, j int) bool { return syncs[i] < syncs[j] })
	fmt.Printf("services=%d endpoints/svc=%d script=%dKiB render=%s first-apply=%s resync p50=%s max=%s\n",
		*services, *endpoints, size/1024, render.Round(time.Millisecond), first.Round(time.Millisecond),
		syncs[len(syncs)/2].Round(time.Millisecond), syncs[len(syncs)-1].Round(time.Millisecond))
}

func makeModel(n, eps int) []proxy.Service {
	out := make([]proxy.Service, n)
	for i := range out {
		s := proxy.Service{
			Namespace: "bench", Name: fmt.Sprintf("svc-%05d", i),
			ClusterIP: netip.AddrFrom4([4]byte{10, 96 + byte(i>>16), byte(i >> 8), byte(i)}),
		}
		p := proxy.Port{Name: "http", Protocol: "tcp", Port: 80}
		for e := range eps {
			p.Endpoints = append(p.Endpoints, proxy.Endpoint{IP: netip.AddrFrom4([4]byte{10, 244, byte(e), byte(i % 250)}), Port: 8080})
		}
		s.Ports = []proxy.Port{p}
		out[i] = s
	}
	return out
}
