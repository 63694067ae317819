package v1alpha1

import "strings"

// Lane defaults.
const (
	DefaultLaneHeader   = "x-graylane"
	DefaultUserHeader   = "x-user-id"
	DefaultTenantHeader = "x-tenant-id"
)

// Default fills the documented defaults in place.
func (l *Lane) Default() {
	l.Spec.Default()
}

// Default fills every unset field of the spec that has a default.
func (s *LaneSpec) Default() {
	if s.Fallback == "" {
		s.Fallback = FallbackBase
	}
	if len(s.Propagation.Modes) == 0 {
		s.Propagation.Modes = []string{PropagateHeader, PropagateBaggage}
	}
	if s.Propagation.Header == "" {
		s.Propagation.Header = DefaultLaneHeader
	}
	s.Propagation.Header = strings.ToLower(s.Propagation.Header)
	for i := range s.Members {
		if c := s.Members[i].CanaryConfig; c != nil {
			c.Default(nil) // the container: the first of the workload's, found when compiled
		}
	}
	if s.Entry.Identity.UserHeader == "" {
		s.Entry.Identity.UserHeader = DefaultUserHeader
	}
	if s.Entry.Identity.TenantHeader == "" {
		s.Entry.Identity.TenantHeader = DefaultTenantHeader
	}
	// anonymousWeight defaults to weight; an invalid weight is not copied,
	// so that its error names only the field the user wrote.
	if p := s.Entry.Percentage; p != nil && p.AnonymousWeight == nil && validWeight(p.Weight) {
		w := p.Weight
		p.AnonymousWeight = &w
	}
}
