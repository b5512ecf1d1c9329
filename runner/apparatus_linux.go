package runner

import (
	"os"
	"syscall"
	"time"
)

// machineProbe reads the machine's CPU pressure and steal. The files stay
// open for the run and are read from their start with one pread into a
// fixed buffer: a reading a second costs two system calls and no garbage.
type machineProbe struct {
	pressure, stat *procFile
}

func openMachineProbe() machineProbe {
	return machineProbe{pressure: openProcFile("/proc/pressure/cpu"), stat: openProcFile("/proc/stat")}
}

// reading takes the process's and the machine's counters now, stamped at.
func (p machineProbe) reading(at time.Duration) machineReading {
	r := machineReading{at: at, usage: readProcessUsage(), pressureUS: -1}
	if b := p.pressure.read(); b != nil {
		r.pressureUS = parsePressureTotal(b)
	}
	if b := p.stat.read(); b != nil {
		r.cpu = parseCPUStat(b)
	}
	return r
}

func (p machineProbe) close() {
	p.pressure.close()
	p.stat.close()
}

// loadAverage is the machine's one-minute load average; 0 when unknown.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	return parseLoadAverage(b)
}

// procFile is a small /proc file read again and again from its start.
// Only the first bytes matter: /proc/stat's first line (at most ~220
// bytes), /proc/pressure/cpu's two lines (~110).
type procFile struct {
	f   *os.File
	fd  int
	buf [512]byte
}

// openProcFile returns nil when the file is absent or unreadable (no PSI
// in the kernel, a restricted container).
func openProcFile(path string) *procFile {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	return &procFile{f: f, fd: int(f.Fd())}
}

// read returns the file's first bytes, or nil when it cannot be read
// (/proc/pressure exists but PSI was switched off at boot: EOPNOTSUPP).
func (p *procFile) read() []byte {
	if p == nil {
		return nil
	}
	n, err := syscall.Pread(p.fd, p.buf[:], 0)
	if err != nil || n <= 0 {
		return nil
	}
	return p.buf[:n]
}

func (p *procFile) close() {
	if p != nil {
		p.f.Close()
	}
}
