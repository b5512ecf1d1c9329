//go:build !unix

package runner

// readProcessUsage is not measured on this platform.
func readProcessUsage() processUsage { return processUsage{} }
