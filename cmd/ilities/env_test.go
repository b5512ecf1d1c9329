package main

import (
	"os"
	"testing"

	"github.com/ilities/ilities/internal/testenv"
)

// TestMain keeps every simulation these tests run, in this process or in
// the binary they start, on the model's built-in constants, whatever
// calibration this machine holds.
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
