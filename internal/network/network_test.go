package network

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
)

func testConfig() Config {
	return Config{
		Bridge:       "cni-berth0",
		Subnet:       netip.MustParsePrefix("10.244.3.0/24"),
		Routes:       []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("10.96.0.0/12")},
		NoMasquerade: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")},
		StateDir:     "/var/lib/berth/network",
	}
}

func TestConflist(t *testing.T) {
	for _, tc := range []struct {
		name      string
		withPorts bool
		plugins   []string
	}{
		{"without ports only the bridge runs", false, []string{"bridge"}},
		{"with ports portmap follows the bridge", true, []string{"bridge", "portmap"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got struct {
				Plugins []struct {
					Type      string `json:"type"`
					IsGateway bool   `json:"isGateway"`
					Hairpin   bool   `json:"hairpinMode"`
					IPAM      struct {
						Ranges [][]struct{ Subnet, Gateway string } `json:"ranges"`
						Routes []struct{ Dst string }               `json:"routes"`
					} `json:"ipam"`
				} `json:"plugins"`
			}
			if err := json.Unmarshal(conflist(testConfig(), tc.withPorts), &got); err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, p := range got.Plugins {
				types = append(types, p.Type)
			}
			if strings.Join(types, ",") != strings.Join(tc.plugins, ",") {
				t.Fatalf("plugins = %v, want %v", types, tc.plugins)
			}
			br := got.Plugins[0]
			if br.IsGateway {
				t.Error("isGateway = true; the bridge plugin would turn on global ip_forward")
			}
			if !br.Hairpin {
				t.Error("hairpinMode = false; a pod could not reach itself through its Service")
			}
			if r := br.IPAM.Ranges[0][0]; r.Subnet != "10.244.3.0/24" || r.Gateway != "10.244.3.1" {
				t.Errorf("range = %+v, want 10.244.3.0/24 via 10.244.3.1", r)
			}
			if len(br.IPAM.Routes) != 2 {
				t.Errorf("routes = %v, want cluster and service CIDR and no default", br.IPAM.Routes)
			}
		})
	}
}

func TestMasqueradeRules(t *testing.T) {
	got := masqueradeRules(testConfig())
	want := `ip saddr 10.244.3.0/24 ip daddr != { 10.244.0.0/16 } oifname != "cni-berth0" masquerade`
	if !strings.Contains(got, want) {
		t.Errorf("masqueradeRules() =\n%s\nwant a line %q", got, want)
	}
	if !strings.Contains(got, "delete table ip berth-cni-berth0") {
		t.Errorf("masqueradeRules() does not replace the table atomically:\n%s", got)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"bridge name too long for the kernel", func(c *Config) { c.Bridge = "a-very-long-bridge" }, "1-15 bytes"},
		{"IPv6 subnet", func(c *Config) { c.Subnet = netip.MustParsePrefix("fd00::/64") }, "IPv4"},
		{"no state dir", func(c *Config) { c.StateDir = "" }, "StateDir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			tc.mod(&c)
			_, err := New(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New() error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
