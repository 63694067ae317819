package command

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/graylane/graylane/internal/judge"
	"github.com/graylane/graylane/internal/render"
)

// parseVersionChoice reads VERSION or SERVICE=VERSION (SERVICE: NAME or
// NAMESPACE/NAME).
func parseVersionChoice(s string) (render.VersionChoice, error) {
	svc, v, ok := strings.Cut(s, "=")
	if !ok {
		svc, v = "", s
	}
	if ok && (svc == "" || strings.Count(svc, "/") > 1 || strings.HasPrefix(svc, "/") || strings.HasSuffix(svc, "/")) {
		return render.VersionChoice{}, errors.New("want VERSION or SERVICE=VERSION (SERVICE: NAME or NAMESPACE/NAME)")
	}
	if v == "" {
		return render.VersionChoice{}, errors.New("want VERSION or SERVICE=VERSION: the version is empty")
	}
	if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
		return render.VersionChoice{}, fmt.Errorf("the version is a value of the pods' version label: %s", strings.Join(msgs, "; "))
	}
	return render.VersionChoice{Service: svc, Version: v}, nil
}

// convertNotes tells on stderr what became of services with one
// Deployment per version, how to apply them the first time, what the
// judge needs on a cluster, and which input routing the output replaces.
func convertNotes(w io.Writer, conv *render.Conversion, o render.ConvertOptions) error {
	var notes, rollouts, deployments []string
	judgeTemplate := ""
	for _, cs := range conv.Services {
		if cs.Canary == nil {
			continue
		}
		c, s := cs.Canary, cs.Stable
		if o.FirstApply {
			notes = append(notes, fmt.Sprintf("%s/%s: Rollout %s has the pod template of the stable version %s (Deployment %s), for the first apply; the canary is %s (Deployment %s)",
				cs.Namespace, cs.Rollout, cs.Rollout, s.Version, s.Deployment, c.Version, c.Deployment))
		} else {
			notes = append(notes, fmt.Sprintf("%s/%s: Rollout %s has the pod template of the canary version %s (Deployment %s); the stable is %s (Deployment %s)",
				cs.Namespace, cs.Rollout, cs.Rollout, c.Version, c.Deployment, s.Version, s.Deployment))
		}
		for _, v := range cs.NotConverted {
			notes = append(notes, fmt.Sprintf("%s/%s: version %s (Deployment %s) is not converted: a Rollout holds a stable and a canary (choose with --canary-version and --stable-version)",
				cs.Namespace, cs.Rollout, v.Version, v.Deployment))
		}
		rollouts = append(rollouts, cs.Namespace+"/"+cs.Rollout)
		for _, d := range cs.Deployments {
			deployments = append(deployments, cs.Namespace+"/"+d)
		}
		for _, v := range cs.NotConverted {
			deployments = append(deployments, cs.Namespace+"/"+v.Deployment)
		}
		for _, a := range cs.Analysis {
			if strings.HasSuffix(a, "-"+render.AnalysisJudge) {
				judgeTemplate = a
			}
		}
	}
	switch {
	case len(rollouts) == 0:
	case o.FirstApply:
		notes = append(notes, fmt.Sprintf("a new Rollout takes its first pod template as stable at once, without steps: once Rollouts %s are Healthy, delete Deployments %s and apply the output without --first-apply to start the canaries",
			strings.Join(rollouts, ", "), strings.Join(deployments, ", ")))
	default:
		notes = append(notes, fmt.Sprintf("a new Rollout takes its first pod template as stable at once, without steps or analysis: where Rollouts %s do not exist yet, apply the output of --first-apply first (docs/kubernetes.md, \"One Deployment per version\")",
			strings.Join(rollouts, ", ")))
	}
	if judgeTemplate != "" {
		notes = append(notes, fmt.Sprintf("AnalysisTemplate %s runs the judge, metric plugin %s: graylane up runs it; Argo Rollouts on a cluster needs the plugin registered, or each measurement errors and the canary is aborted (convert without --judge then)", judgeTemplate, judge.PluginName))
	}
	if len(conv.Superseded) > 0 {
		notes = append(notes, "the generated DestinationRules and VirtualServices replace the input's routing of the converted services, which is not in the output (delete it when you apply; for gateway traffic give spec.gateways and spec.hosts with --release): "+strings.Join(conv.Superseded, ", "))
	}
	for _, n := range notes {
		if _, err := fmt.Fprintln(w, "note: "+n); err != nil {
			return err
		}
	}
	return nil
}
