// Command engine-bench compares the engine's container start path with its
// floor, in one run on one machine:
//
//	floor   runc run /bin/true on a prepared bundle (what any runc engine pays)
//	engine  Create + Start + Wait + RemoveContainer of busybox `true`
//	        (what `docker run --rm busybox true` costs inside berth)
//
// and reports the RSS of one idle shim and of this process with the engine
// open. Run as root after scripts/base-images.sh:
//
//	go run ./bench/engine -n 30
//
// The bench binary doubles as the shim, as cmd/berth does.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/engine/shim"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == engine.ShimArg {
		os.Exit(shim.Main())
	}
	n := flag.Int("n", 30, "runs per case")
	images := flag.String("images", "_out/images/busybox.tar", "busybox docker-archive from scripts/base-images.sh")
	shimBin := flag.String("shim", "", "binary to re-execute as the shim (e.g. a built berth); default this one")
	flag.Parse()
	if err := run(*n, *images, *shimBin); err != nil {
		fmt.Fprintln(os.Stderr, "engine-bench:", err)
		os.Exit(1)
	}
}

func run(n int, images, shimBin string) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "berth-engine-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	defer engine.Reset(ctx, dir)
	e, err := engine.New(engine.Config{Root: dir, ShimBinary: shimBin})
	if err != nil {
		return err
	}
	defer e.Close()
	f, err := os.Open(images)
	if err != nil {
		return err
	}
	_, err = e.Load(ctx, f)
	f.Close()
	if err != nil {
		return err
	}
	bundle, err := floorBundle(ctx, e, dir)
	if err != nil {
		return err
	}
	runcRoot := filepath.Join(dir, "bench-runc")
	floor := func(i int) error {
		return exec.Command(e.Runc(), "--root", runcRoot, "run", "--bundle", bundle, fmt.Sprintf("floor-%d", i)).Run()
	}
	var phases [4][]time.Duration
	full := func(i int) error {
		t0 := time.Now()
		c, err := e.Create(ctx, engine.ContainerSpec{Image: "busybox", Cmd: []string{"true"}, NetNS: engine.NetworkNone})
		if err != nil {
			return err
		}
		t1 := time.Now()
		if err := e.Start(ctx, c.ID); err != nil {
			return err
		}
		t2 := time.Now()
		st, err := e.Wait(ctx, c.ID, engine.WaitNotRunning)
		if err != nil {
			return err
		}
		if st.ExitCode != 0 {
			return fmt.Errorf("true exited %d: %s", st.ExitCode, st.Error)
		}
		t3 := time.Now()
		err = e.RemoveContainer(ctx, c.ID, engine.RemoveOptions{})
		for j, d := range []time.Duration{t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), time.Since(t3)} {
			phases[j] = append(phases[j], d)
		}
		return err
	}
	// Interleave the two cases so drift on this VM hits both alike.
	var tf, te []time.Duration
	for i := 0; i < n+3; i++ {
		d1, err := timed(func() error { return floor(i) })
		if err != nil {
			return fmt.Errorf("runc run: %w", err)
		}
		d2, err := timed(func() error { return full(i) })
		if err != nil {
			return fmt.Errorf("engine run: %w", err)
		}
		if i >= 3 { // warm-up
			tf, te = append(tf, d1), append(te, d2)
		}
	}
	mf, me := median(tf), median(te)
	fmt.Printf("runc run /bin/true (floor)            median %6.1f ms  p90 %6.1f ms\n", ms(mf), ms(pct(tf, 0.9)))
	fmt.Printf("engine create+start+wait+rm busybox   median %6.1f ms  p90 %6.1f ms  (%.2fx floor)\n", ms(me), ms(pct(te, 0.9)), float64(me)/float64(mf))
	fmt.Printf("  phases (median ms): create %.1f  start %.1f  wait %.1f  remove %.1f\n",
		ms(median(phases[0])), ms(median(phases[1])), ms(median(phases[2])), ms(median(phases[3])))

	// Idle footprint: one sleeping container.
	c, err := e.Create(ctx, engine.ContainerSpec{Image: "busybox", Cmd: []string{"sleep", "60"}, NetNS: engine.NetworkNone})
	if err != nil {
		return err
	}
	if err := e.Start(ctx, c.ID); err != nil {
		return err
	}
	c, err = e.Container(ctx, c.ID)
	if err != nil {
		return err
	}
	fmt.Printf("idle shim RSS                         %6.1f MiB (anon %.1f MiB, rest is the shared binary)\n", rssMiB(c.ShimPid, "VmRSS"), rssMiB(c.ShimPid, "RssAnon"))
	fmt.Printf("bench process RSS (engine open)       %6.1f MiB\n", rssMiB(os.Getpid(), "VmRSS"))
	zero := time.Duration(0)
	if err := e.Stop(ctx, c.ID, engine.StopOptions{Timeout: &zero}); err != nil {
		return err
	}
	return e.RemoveContainer(ctx, c.ID, engine.RemoveOptions{})
}

// floorBundle makes a plain runc bundle of busybox `true`: the busybox
// layer copied to a directory and the engine's own spec minus its mounts
// of /etc files, so both cases run the same process.
func floorBundle(ctx context.Context, e *engine.Engine, dir string) (string, error) {
	c, err := e.Create(ctx, engine.ContainerSpec{Image: "busybox", Cmd: []string{"true"}, NetNS: engine.NetworkNone})
	if err != nil {
		return "", err
	}
	defer e.RemoveContainer(ctx, c.ID, engine.RemoveOptions{})
	bundle := filepath.Join(dir, "floor")
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		return "", err
	}
	if out, err := exec.Command("cp", "-a", c.Rootfs, filepath.Join(bundle, "rootfs")).CombinedOutput(); err != nil {
		return "", fmt.Errorf("copy rootfs: %v: %s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(c.Rootfs), "config.json"))
	if err != nil {
		return "", err
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		return "", err
	}
	spec["root"] = map[string]any{"path": filepath.Join(bundle, "rootfs")}
	var mounts []any
	for _, m := range spec["mounts"].([]any) {
		if m.(map[string]any)["type"] != "bind" { // the /etc files live in the container dir
			mounts = append(mounts, m)
		}
	}
	spec["mounts"] = mounts
	linux := spec["linux"].(map[string]any)
	// The engine's none-network namespace belongs to the removed container:
	// let runc make a fresh one, as a plain runc user would.
	for _, ns := range linux["namespaces"].([]any) {
		delete(ns.(map[string]any), "path")
	}
	linux["cgroupsPath"] = engine.CgroupRoot(dir) + "/floor"
	b, err = json.Marshal(spec)
	if err != nil {
		return "", err
	}
	return bundle, os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o600)
}

func timed(f func() error) (time.Duration, error) {
	t := time.Now()
	err := f()
	return time.Since(t), err
}

func median(d []time.Duration) time.Duration { return pct(d, 0.5) }

func pct(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(float64(len(s)-1)*p)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func rssMiB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return -1
}
