package widgets

import "strings"

// sparkLevels are the eighths of a cell a sparkline draws with.
var sparkLevels = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws the last width values (oldest first) as one line of
// width cells, scaled so the largest shown value fills a cell. A zero is a
// blank cell and any count above zero at least the lowest bar, so a single
// event among hundreds still shows. Fewer values than width are padded
// with blanks on the left: the newest value is always at the right edge.
func Sparkline(values []int, width int) string {
	if width <= 0 {
		return ""
	}
	if len(values) > width {
		values = values[len(values)-width:]
	}
	top := 0
	for _, v := range values {
		top = max(top, v)
	}
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", width-len(values)))
	for _, v := range values {
		if v <= 0 {
			b.WriteByte(' ')
			continue
		}
		level := (v*len(sparkLevels) + top - 1) / top // ceil(v/top × 8), 1..8
		b.WriteRune(sparkLevels[level-1])
	}
	return b.String()
}
