package refundry

import (
	"testing"

	"github.com/rs/xid"
)

// idOf builds an xid from its parts: a timestamp, the machine and process
// bytes, and a 24-bit counter.
func idOf(ts uint32, counter uint32) xid.ID {
	var id xid.ID
	id[0], id[1], id[2], id[3] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
	copy(id[4:9], []byte{0xaa, 0xbb, 0xcc, 0x01, 0x02})
	id[9], id[10], id[11] = byte(counter>>16), byte(counter>>8), byte(counter)
	return id
}

func TestNextID(t *testing.T) {
	for _, tt := range []struct {
		name        string
		last, fresh xid.ID
		want        xid.ID
	}{
		{"OKFresh", idOf(100, 5), idOf(100, 6), idOf(100, 6)},
		{"OKNewSecond", idOf(100, 0xffffff), idOf(101, 3), idOf(101, 3)},
		{"OKFirst", xid.ID{}, idOf(100, 5), idOf(100, 5)},
		{"OKCounterWrapped", idOf(100, 0xfffffe), idOf(100, 0), idOf(100, 0xffffff)},
		{"OKCounterWrappedCarriesIntoTime", idOf(100, 0xffffff), idOf(100, 1), idOf(101, 0)},
		{"OKClockStepBack", idOf(100, 7), idOf(90, 8), idOf(100, 8)},
		{"OKSameID", idOf(100, 7), idOf(100, 7), idOf(100, 8)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := nextID(tt.last, tt.fresh)
			if got != tt.want {
				t.Fatalf("nextID = %v, want %v", got, tt.want)
			}
			if got.String() <= tt.last.String() {
				t.Fatalf("nextID %s does not sort after %s", got, tt.last)
			}
		})
	}
}
