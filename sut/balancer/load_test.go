package balancer

import "testing"

func TestParseLoad(t *testing.T) {
	cases := []struct {
		in    string
		want  Load
		found bool
	}{
		{"inflight=3;workers=8;queue=0", Load{Inflight: 3, Workers: 8}, true},
		{" queue=2 ; inflight=1\t", Load{Inflight: 1, Queue: 2}, true},
		{"workers=4;cpu=9;inflight=x", Load{Workers: 4}, true},
		{"inflight=-1", Load{}, false},
		{"", Load{}, false},
	}
	for _, tc := range cases {
		got, found := ParseLoad([]byte(tc.in))
		if got != tc.want || found != tc.found {
			t.Errorf("ParseLoad(%q) = %+v, %v; want %+v, %v", tc.in, got, found, tc.want, tc.found)
		}
	}
}
