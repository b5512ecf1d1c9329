package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut/balancer"
)

// Flags that take a name list the names of the registry that defines them,
// in their help and in shell completion: a strategy, output format or proxy
// kind added there needs nothing here.

// formatFlag adds --format: how the command prints its result.
func formatFlag(cmd *cobra.Command, format *string) {
	cmd.Flags().StringVar(format, "format", "text", "what to print: "+strings.Join(report.Formats(), ", "))
	completeNames(cmd, "format", report.Formats)
}

// formatRenderer is the renderer --format names; an unknown format is
// invalid input. The text is in colour on a terminal, never in a file or a
// pipe, nor when NO_COLOR is set to anything (no-color.org).
func formatRenderer(cmd *cobra.Command, format string) (report.Renderer, error) {
	render, err := report.RendererFor(format)
	if err != nil {
		return nil, withCode(exitInvalid, fmt.Errorf("--format: %w", err))
	}
	if format == "text" && isTerminal(cmd.OutOrStdout()) && os.Getenv("NO_COLOR") == "" {
		return report.WriteTextInColour, nil
	}
	return render, nil
}

// strategyFlag adds --strategy: the built-in proxy's strategy, overridden.
func strategyFlag(cmd *cobra.Command, strategy *string) {
	cmd.Flags().StringVar(strategy, "strategy", "", "override the built-in proxy's balancing strategy: "+strings.Join(balancer.Names(), ", "))
	completeNames(cmd, "strategy", balancer.Names)
}

// strategiesFlag adds --strategies: the strategies compare runs.
func strategiesFlag(cmd *cobra.Command, strategies *[]string) {
	cmd.Flags().StringSliceVar(strategies, "strategies", nil, "balancing strategies to compare, comma-separated, of "+strings.Join(balancer.Names(), ", "))
	completeNames(cmd, "strategies", balancer.Names)
}

// proxiesFlag adds --proxies: the proxy kinds compare runs.
func proxiesFlag(cmd *cobra.Command, proxies *[]string) {
	cmd.Flags().StringSliceVar(proxies, "proxies", nil, "proxies to compare, comma-separated, of "+strings.Join(scenario.ProxyKinds, ", "))
	completeNames(cmd, "proxies", func() []string { return scenario.ProxyKinds })
}

// completeNames completes the flag with names; after a comma (a list
// flag) it completes the list's next item.
func completeNames(cmd *cobra.Command, flag string, names func() []string) {
	err := cmd.RegisterFlagCompletionFunc(flag, func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		done := toComplete[:strings.LastIndex(toComplete, ",")+1]
		var out []cobra.Completion
		for _, n := range names() {
			if strings.HasPrefix(done+n, toComplete) {
				out = append(out, done+n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	})
	if err != nil {
		panic(err) // the flag is not defined: a programming error
	}
}
