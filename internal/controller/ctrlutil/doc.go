// Package ctrlutil holds what every berth controller shares: the worker loop
// over a rate-limited queue, expectations (so a burst of informer events never
// makes a controller create twice), slow-start batching, the controller-ref
// claim logic (adopt and release by selector), pod creation from a template,
// pod ranking helpers and the event recorder.
//
// It mirrors upstream's pkg/controller/controller_utils.go and
// controller_ref_manager.go in semantics, not in code. It imports only
// k8s.io/{api,apimachinery,client-go}; never another berth package.
package ctrlutil
