package v1alpha1

// Condition types of LaneStatus.Conditions and ReleaseStatus.Conditions
// (metav1.Condition). Whoever reconciles a Lane or Release (the cluster
// controller, or the embedded runtime) sets all three, with one of the
// reasons below, and sets observedGeneration on each condition and on the
// status to the metadata.generation it acted on.
const (
	// ConditionReady is True when every object the Lane or Release
	// compiles to is applied and the routing is in place (reason Applied).
	// False with reason Invalid, ReferenceNotFound or ApplyFailed, and the
	// message saying what is wrong.
	ConditionReady = "Ready"
	// ConditionProgressing is True while a Release, or a Lane with a plan,
	// moves through its steps (reason StepRunning, or Paused while a pause
	// without duration waits for promote). False once the last step is done
	// and the new version is stable (Completed), after an abort or a failed
	// analysis (Aborted), or for a Lane without a plan (NoPlan).
	ConditionProgressing = "Progressing"
	// ConditionDegraded is True when the new version was rolled back: an
	// analysis failed (AnalysisFailed) or it was aborted by hand (Aborted);
	// the stable version serves everyone. False otherwise (Healthy).
	ConditionDegraded = "Degraded"
)

// Reasons of the conditions above (metav1.Condition.Reason).
const (
	// ReasonApplied (Ready True): every generated object is applied.
	ReasonApplied = "Applied"
	// ReasonInvalid (Ready False): Validate refused the spec; the message
	// lists the field errors.
	ReasonInvalid = "Invalid"
	// ReasonReferenceNotFound (Ready False): a Service, workload, Gateway or
	// analysis the spec names does not exist.
	ReasonReferenceNotFound = "ReferenceNotFound"
	// ReasonApplyFailed (Ready False): the API server refused a generated
	// object; the message has its answer.
	ReasonApplyFailed = "ApplyFailed"
	// ReasonStepRunning (Progressing True): a step is in progress.
	ReasonStepRunning = "StepRunning"
	// ReasonPaused (Progressing True): a pause without duration waits for
	// promote.
	ReasonPaused = "Paused"
	// ReasonCompleted (Progressing False): all steps are done; the new
	// version is stable.
	ReasonCompleted = "Completed"
	// ReasonAborted (Progressing False, Degraded True): rolled back by an
	// abort.
	ReasonAborted = "Aborted"
	// ReasonAnalysisFailed (Progressing False, Degraded True): rolled back
	// because an analysis failed; the message names the analysis and member.
	ReasonAnalysisFailed = "AnalysisFailed"
	// ReasonNoPlan (Progressing False): a Lane without a plan, whose weight
	// stays at entry.percentage.weight.
	ReasonNoPlan = "NoPlan"
	// ReasonHealthy (Degraded False): nothing was rolled back.
	ReasonHealthy = "Healthy"
)
