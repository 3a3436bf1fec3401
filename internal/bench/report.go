package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// Table column headers, in order.
var tableHeader = []string{"SCENARIO", "METRIC", "VALUE", "TARGET", "MET", "BASELINE", "BASELINE VALUE", "RATIO"}

// WriteTable writes the results as an aligned text table, one row per result and one more
// row per further baseline (its scenario columns left empty), then the notes.
func WriteTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")) }
	row(tableHeader...)
	for _, r := range rs {
		met := "-"
		if r.Target != "" {
			met = map[bool]string{true: "yes", false: "NO"}[r.Met]
		}
		target := r.Target
		if target == "" {
			target = "-"
		}
		first := []string{r.Scenario, r.Metric, valueCell(r.Value, r.Spread, r.Unit), target, met}
		if len(r.Baselines) == 0 {
			row(append(first, "-", "-", "-")...)
			continue
		}
		for i, b := range r.Baselines {
			cells := first
			if i > 0 {
				cells = []string{"", "", "", "", ""}
			}
			row(append(cells, b.Name, valueCell(b.Value, b.Spread, r.Unit), formatRatio(b.Ratio)+formatSpread(b.RatioSpread, "ratio"))...)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var notes []string
	roundsNote := false
	for _, r := range rs {
		if r.Rounds > 0 && !roundsNote {
			roundsNote = true
			notes = append(notes, "  values with a range are medians over interleaved rounds (min–max)")
		}
		if r.Note != "" {
			notes = append(notes, fmt.Sprintf("  %s %s: %s", r.Scenario, r.Metric, r.Note))
		}
	}
	if len(notes) > 0 {
		if _, err := fmt.Fprintf(w, "\nRATIO = value / baseline value.\nNotes:\n%s\n", strings.Join(notes, "\n")); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSON writes the results as an indented JSON array (non-finite numbers become 0).
func WriteJSON(w io.Writer, rs []Result) error {
	out := make([]Result, len(rs))
	for i, r := range rs {
		r.Value = finite(r.Value)
		r.Spread = finiteSpread(r.Spread)
		r.Baselines = append([]Baseline(nil), r.Baselines...)
		for j := range r.Baselines {
			r.Baselines[j].Value = finite(r.Baselines[j].Value)
			r.Baselines[j].Ratio = finite(r.Baselines[j].Ratio)
			r.Baselines[j].Spread = finiteSpread(r.Baselines[j].Spread)
			r.Baselines[j].RatioSpread = finiteSpread(r.Baselines[j].RatioSpread)
		}
		out[i] = r
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func finiteSpread(s *Spread) *Spread {
	if s == nil {
		return nil
	}
	return &Spread{Min: finite(s.Min), Max: finite(s.Max)}
}

// valueCell renders v with its range, if any, before the unit: "1 200 (1 100–1 300) msg/s".
func valueCell(v float64, s *Spread, unit string) string {
	c := formatValue(v, "") + formatSpread(s, "")
	if unit == "" {
		return c
	}
	return c + " " + unit
}

// formatSpread renders a range as " (min–max)", values shortened like formatRatio for ratios
// and with thousands grouping otherwise; "" for nil.
func formatSpread(s *Spread, kind string) string {
	if s == nil {
		return ""
	}
	if kind == "ratio" {
		return fmt.Sprintf(" (%s–%s)", formatRatio(s.Min), formatRatio(s.Max))
	}
	return fmt.Sprintf(" (%s–%s)", formatValue(s.Min, ""), formatValue(s.Max, ""))
}

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// formatValue renders v with its unit: rates with thousands separators, latencies with a
// precision that suits their size.
func formatValue(v float64, unit string) string {
	var s string
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		s = fmt.Sprint(v)
	case math.Abs(math.Round(v)) >= 1000:
		s = group(int64(math.Round(v)))
	case math.Abs(v) >= 100:
		s = fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		s = fmt.Sprintf("%.1f", v)
	default:
		s = fmt.Sprintf("%.2f", v)
	}
	if unit == "" {
		return s
	}
	return s + " " + unit
}

// group writes n with a space every three digits.
func group(n int64) string {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return sign + b.String()
}

func formatRatio(r float64) string {
	switch {
	case r == 0:
		return "-"
	case r >= 100:
		return fmt.Sprintf("%.0f", r)
	case r >= 10:
		return fmt.Sprintf("%.1f", r)
	case r >= 0.1:
		return fmt.Sprintf("%.2f", r)
	default:
		return fmt.Sprintf("%.2g", r)
	}
}
