package audit

// DeepReport records the live probes.
type DeepReport struct {
	Target string  `json:"target"`
	Via    string  `json:"via,omitempty"`
	Probes []Probe `json:"probes"`
}

// Probe is one live probe's outcome.
type Probe struct {
	ID     string `json:"id"`
	Status string `json:"status"` // pass | fail | skipped
	Detail string `json:"detail"`
}
