package sut_test

import (
	"slices"
	"testing"

	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
)

// Every kind validation accepts is one Inject applies, and no other: a
// scenario that validates never meets "unknown fault kind" at run time.
func TestInjectKnowsEveryFaultKindValidationAccepts(t *testing.T) {
	accepted := slices.Sorted(slices.Values(scenario.FaultKinds))
	if got := sut.FaultKinds(); !slices.Equal(got, accepted) {
		t.Fatalf("sut.FaultKinds() = %v, scenario.FaultKinds = %v", got, accepted)
	}
}
