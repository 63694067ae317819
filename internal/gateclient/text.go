package gateclient

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// WriteDecisionText renders a decision for --output text.
func WriteDecisionText(w io.Writer, d Decision) error {
	_, err := fmt.Fprintf(w, "lane: %s\nreason: %s (%s)\nbucket: %d\n", d.Lane, d.Reason, d.Source, d.Bucket)
	return err
}

// WriteEntriesText renders a whitelist as a table.
func WriteEntriesText(w io.Writer, l EntryList) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tID\tLANE\tEXPIRES\tCREATED BY\tNOTE")
	for _, e := range l.Items {
		exp := "-"
		if e.ExpiresAt != nil {
			exp = e.ExpiresAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Kind, e.ID, e.Lane, exp, e.CreatedBy, e.Note)
	}
	return tw.Flush()
}

// WriteLanesText renders lanes as a table.
func WriteLanesText(w io.Writer, l LaneList) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LANE\tWEIGHT\tSHARE")
	for _, x := range l.Items {
		fmt.Fprintf(tw, "%s\t%d\t%d%%\n", x.Name, x.Weight, x.Share)
	}
	return tw.Flush()
}
