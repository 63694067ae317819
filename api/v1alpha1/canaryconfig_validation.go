package v1alpha1

import (
	"maps"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/graylane/graylane/internal/springprops"
)

// springKey is what a canaryConfig property name may be (the CRD's CEL
// rule is the same): dotted elements and [N] indexes, which Spring's
// relaxed binding maps to a valid environment variable name.
var springKey = regexp.MustCompile(`^[A-Za-z][-A-Za-z0-9_]*([.][A-Za-z0-9][-A-Za-z0-9_]*|\[[0-9]+\])*$`)

// nacosName is what Nacos accepts in a data id, group or namespace
// (com.alibaba.nacos.common.utils.ParamUtils#isValid: letters, digits and
// "_-.:").
var nacosName = regexp.MustCompile(`^[-A-Za-z0-9_.:]*$`)

// Default fills the container (the first of containers) and the Nacos
// group.
func (c *CanaryConfig) Default(containers []string) {
	if c.Container == "" && len(containers) > 0 {
		c.Container = containers[0]
	}
	if c.Nacos != nil && c.Nacos.Group == "" {
		c.Nacos.Group = DefaultNacosGroup
	}
}

// containerName is the container the properties go to: the one named,
// else the first of cs.
func (c *CanaryConfig) containerName(cs []corev1.Container) string {
	if c.Container == "" && len(cs) > 0 {
		return cs[0].Name
	}
	return c.Container
}

// ContainerIndex is the index in cs of the container the properties go
// to (the one named, else the first), -1 when cs has no such container.
func (c *CanaryConfig) ContainerIndex(cs []corev1.Container) int {
	name := c.containerName(cs)
	return slices.IndexFunc(cs, func(ct corev1.Container) bool { return ct.Name == name })
}

// AddEnv appends the properties' variables (Env) to the environment of
// spec's container they go to (ContainerIndex); nothing without one.
func (c *CanaryConfig) AddEnv(spec *corev1.PodSpec) {
	if i := c.ContainerIndex(spec.Containers); i >= 0 {
		spec.Containers[i].Env = append(spec.Containers[i].Env, c.Env()...)
	}
}

// Env is the properties as environment variables, sorted by name.
func (c *CanaryConfig) Env() []corev1.EnvVar {
	out := make([]corev1.EnvVar, 0, len(c.Properties))
	for k, v := range c.Properties {
		out = append(out, corev1.EnvVar{Name: springprops.EnvName(k), Value: v})
	}
	slices.SortFunc(out, func(a, b corev1.EnvVar) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Validate checks a defaulted canaryConfig against the containers of the
// pod template it goes on (their names and the environment variables
// each already sets). containers nil: the template is not known here (a
// Lane member's workload), so the container and its variables are checked
// when the lane is compiled (CheckContainer).
func (c *CanaryConfig) Validate(p *field.Path, containers []corev1.Container) field.ErrorList {
	var errs field.ErrorList
	pp := p.Child("properties")
	if len(c.Properties) == 0 {
		errs = append(errs, field.Required(pp, "at least one Spring property"))
	}
	errs = append(errs, tooMany(len(c.Properties), MaxCanaryProperties, pp)...)
	if containers != nil {
		errs = append(errs, c.CheckContainer(p, containers)...)
	}
	byEnv := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(c.Properties)) {
		kp := pp.Key(k)
		if !springKey.MatchString(k) {
			errs = append(errs, field.Invalid(kp, k, "a Spring property name: elements of letters, digits, '-' and '_' separated by '.', each starting with a letter or digit (the first with a letter), and indexes [N]"))
			continue
		}
		env := springprops.EnvName(k)
		if byEnv[env] != "" {
			errs = append(errs, field.Duplicate(kp, k+" maps to environment variable "+env+", as "+byEnv[env]+" does"))
		}
		byEnv[env] = k
		if v := c.Properties[k]; strings.Contains(v, "$(") || strings.Contains(v, "$$") {
			errs = append(errs, field.Invalid(kp, v, "the kubelet expands $(VAR) and $$ in environment values; write the value without them"))
		}
	}
	if n := c.Nacos; n != nil {
		errs = append(errs, n.validate(p.Child("nacos"))...)
	}
	return errs
}

// CheckContainer checks that the container c names (the first of
// containers when it names none) is one of containers and sets none of
// the properties' variables itself.
func (c *CanaryConfig) CheckContainer(p *field.Path, containers []corev1.Container) field.ErrorList {
	name := c.containerName(containers)
	i := c.ContainerIndex(containers)
	if i < 0 {
		names := make([]string, len(containers))
		for i := range containers {
			names[i] = containers[i].Name
		}
		return field.ErrorList{field.NotSupported(p.Child("container"), name, names)}
	}
	set := map[string]bool{}
	for _, e := range containers[i].Env {
		set[e.Name] = true
	}
	var errs field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(c.Properties)) {
		if env := springprops.EnvName(k); set[env] {
			errs = append(errs, field.Invalid(p.Child("properties").Key(k), k, "its environment variable "+env+" is already set by container "+name+"; set the value once, here or there"))
		}
	}
	return errs
}

func (n *NacosConfigRef) validate(np *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case n.DataID == "":
		errs = append(errs, field.Required(np.Child("dataId"), "the data id the properties are published to"))
	case !nacosName.MatchString(n.DataID) || springprops.FormatOf(n.DataID) == "":
		errs = append(errs, field.Invalid(np.Child("dataId"), n.DataID, "want a Nacos data id (letters, digits, '-', '_', '.', ':') ending in .yaml, .yml or .properties (its format)"))
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"dataId", n.DataID, 255}, {"group", n.Group, 128}, {"namespace", n.Namespace, 128}} {
		if len(f.v) > f.max {
			errs = append(errs, field.TooLong(np.Child(f.name), f.v, f.max))
		}
	}
	if !nacosName.MatchString(n.Group) {
		errs = append(errs, field.Invalid(np.Child("group"), n.Group, "want a Nacos group: letters, digits, '-', '_', '.', ':'"))
	}
	if !nacosName.MatchString(n.Namespace) {
		errs = append(errs, field.Invalid(np.Child("namespace"), n.Namespace, "want a Nacos namespace id: letters, digits, '-', '_', '.', ':'"))
	}
	return errs
}
