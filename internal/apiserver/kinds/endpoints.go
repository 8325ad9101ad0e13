package kinds

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Endpoints and EndpointSlices, written by the endpoint controllers.

// listMax is how many addresses kubectl's printers show before "+ N more...".
const listMax = 3

func endpointsKind(k *Kind) {
	k.Columns = []metav1.TableColumnDefinition{nameColumn, str("Endpoints", corev1.Endpoints{}.SwaggerDoc()["subsets"]), ageColumn}
	k.Row = func(obj runtime.Object) []interface{} {
		ep := obj.(*corev1.Endpoints)
		return []interface{}{ep.Name, formatEndpoints(ep), age(ep.CreationTimestamp)}
	}
	k.Default = func(obj runtime.Object) {
		for i := range obj.(*corev1.Endpoints).Subsets {
			ports := obj.(*corev1.Endpoints).Subsets[i].Ports
			for j := range ports {
				if ports[j].Protocol == "" {
					ports[j].Protocol = corev1.ProtocolTCP
				}
			}
		}
	}
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		var errs field.ErrorList
		for i, ss := range obj.(*corev1.Endpoints).Subsets {
			sp := field.NewPath("subsets").Index(i)
			for j, a := range append(append([]corev1.EndpointAddress{}, ss.Addresses...), ss.NotReadyAddresses...) {
				ap := sp.Child("addresses").Index(j)
				if j >= len(ss.Addresses) {
					ap = sp.Child("notReadyAddresses").Index(j - len(ss.Addresses))
				}
				if net.ParseIP(a.IP) == nil {
					errs = append(errs, field.Invalid(ap.Child("ip"), a.IP, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
				}
			}
			for j, p := range ss.Ports {
				for _, msg := range validation.IsValidPortNum(int(p.Port)) {
					errs = append(errs, field.Invalid(sp.Child("ports").Index(j).Child("port"), p.Port, msg))
				}
			}
		}
		return errs
	}, nil)
}

// formatEndpoints is upstream's printer helper: "ip:port" pairs, at most
// three, then "+ N more...", or "<none>".
func formatEndpoints(ep *corev1.Endpoints) string {
	if len(ep.Subsets) == 0 {
		return "<none>"
	}
	var list []string
	count := 0
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			// Headless services may have no ports.
			for _, a := range ss.Addresses {
				count++
				if len(list) < listMax {
					list = append(list, a.IP)
				}
			}
			continue
		}
		for _, p := range ss.Ports {
			for _, a := range ss.Addresses {
				count++
				if len(list) < listMax {
					list = append(list, net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
				}
			}
		}
	}
	ret := strings.Join(list, ",")
	if count > listMax {
		return fmt.Sprintf("%s + %d more...", ret, count-listMax)
	}
	return ret
}

func endpointSliceKind(k *Kind) {
	d := discoveryv1.EndpointSlice{}.SwaggerDoc()
	k.Columns = []metav1.TableColumnDefinition{nameColumn, str("AddressType", d["addressType"]),
		str("Ports", d["ports"]), str("Endpoints", d["endpoints"]), ageColumn}
	k.Row = func(obj runtime.Object) []interface{} {
		s := obj.(*discoveryv1.EndpointSlice)
		var ports, addrs []string
		for _, p := range s.Ports {
			switch {
			case p.Port != nil:
				ports = append(ports, strconv.Itoa(int(*p.Port)))
			case p.Name != nil:
				ports = append(ports, *p.Name)
			default:
				ports = append(ports, "*")
			}
		}
		for _, e := range s.Endpoints {
			addrs = append(addrs, e.Addresses...)
		}
		return []interface{}{s.Name, string(s.AddressType), moreList(ports), moreList(addrs), age(s.CreationTimestamp)}
	}
	// Upstream's SetDefaults_EndpointPort: name "" and protocol TCP.
	k.Default = func(obj runtime.Object) {
		ports := obj.(*discoveryv1.EndpointSlice).Ports
		for i := range ports {
			if ports[i].Name == nil {
				empty := ""
				ports[i].Name = &empty
			}
			if ports[i].Protocol == nil {
				tcp := corev1.ProtocolTCP
				ports[i].Protocol = &tcp
			}
		}
	}
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		s := obj.(*discoveryv1.EndpointSlice)
		switch s.AddressType {
		case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN:
			return nil
		case "":
			return field.ErrorList{field.Required(field.NewPath("addressType"), "")}
		}
		return field.ErrorList{field.NotSupported(field.NewPath("addressType"), s.AddressType,
			[]string{string(discoveryv1.AddressTypeIPv4), string(discoveryv1.AddressTypeIPv6), string(discoveryv1.AddressTypeFQDN)})}
	}, func(obj, old runtime.Object) field.ErrorList {
		s, o := obj.(*discoveryv1.EndpointSlice), old.(*discoveryv1.EndpointSlice)
		if s.AddressType != o.AddressType {
			return field.ErrorList{field.Invalid(field.NewPath("addressType"), s.AddressType, "field is immutable")}
		}
		return nil
	})
}

// moreList is upstream's listWithMoreString: at most three, "<unset>" if none.
func moreList(list []string) string {
	if len(list) == 0 {
		return "<unset>"
	}
	if len(list) > listMax {
		return fmt.Sprintf("%s + %d more...", strings.Join(list[:listMax], ","), len(list)-listMax)
	}
	return strings.Join(list, ",")
}
