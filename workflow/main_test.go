package workflow

import (
	"os"
	"testing"

	"github.com/ilities/ilities/internal/testenv"
)

// TestMain keeps the simulated workflows on the model's built-in constants,
// whatever calibration this machine holds.
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
