package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/graylane/graylane/internal/cli"
)

// exitCode is the one mapping from a command's error to the exit code
// docs/cli.md documents: 0 success, 2 bad input (an *cli.InputError,
// or an answer of the runtime or the gate that says the request was bad:
// a 4xx), 1 everything else.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var in *cli.InputError
	if errors.As(err, &in) {
		return 2
	}
	var refused interface{ BadInput() bool }
	if errors.As(err, &refused) && refused.BadInput() {
		return 2
	}
	return 1
}

// defaultExitCodes ends the help of a command that says nothing more
// precise about its exit codes.
const defaultExitCodes = `Exit codes: 0 success, 1 failure while running, 2 bad input (arguments, flag
values, an answer 4xx of the runtime or the gate).`

// finishTree makes every command of the tree report bad input the same
// way: cobra's own help and completion commands are added now (not at
// Execute) so they are part of the tree; argument checks return
// *cli.InputError; a command that only groups others is runnable, so
// an unknown subcommand is an error (exit 2) and no subcommand prints the
// help (exit 0).
func finishTree(root *cobra.Command) {
	root.SetHelpCommand(helpCmd(root))
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	completionExamples(root)
	walk(root, func(c *cobra.Command) {
		if !strings.Contains(c.Long, "Exit codes:") {
			long := strings.TrimRight(c.Long, "\n")
			if long == "" {
				long = c.Short + "."
			}
			c.Long = long + "\n\n" + defaultExitCodes
		}
		switch {
		case c.HasSubCommands() && c.Run == nil && c.RunE == nil:
			c.Args = unknownSubcommand
			c.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
		case c.Args != nil:
			c.Args = inputArgs(c.Args)
		case c.Runnable():
			c.Args = inputArgs(cobra.NoArgs)
		}
	})
}

// walk calls f for c and every command below it, hidden ones included.
func walk(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, sub := range c.Commands() {
		walk(sub, f)
	}
}

// inputArgs is an argument check whose errors are bad input (exit 2).
func inputArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := check(c, args); err != nil {
			if !strings.Contains(err.Error(), c.CommandPath()) {
				err = fmt.Errorf("%s: %w", c.CommandPath(), err)
			}
			return &cli.InputError{Err: err}
		}
		return nil
	}
}

// hintAnnotation + NAME, an annotation of a command that only groups
// others, is what its error for the unknown subcommand NAME adds (e.g.
// where a command moved).
const hintAnnotation = "graylane.io/hint-for-"

// unknownSubcommand is the argument check of a command that only groups
// others: any argument left over is a subcommand that does not exist.
func unknownSubcommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, ", "))
	}
	if hint := c.Annotations[hintAnnotation+args[0]]; hint != "" {
		msg += "; " + hint
	}
	return &cli.InputError{Err: fmt.Errorf("%s; see %s --help", msg, c.CommandPath())}
}

// helpCmd is `graylane help COMMAND...`: cobra's, except that an unknown
// topic is bad input instead of a usage text and exit code 0.
func helpCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:     "help [COMMAND]...",
		Short:   "Help about any command",
		Long:    "Prints the help of a command: the same as graylane COMMAND --help.",
		Example: "  graylane help\n  graylane help lane sign",
		Args:    cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := root.Find(args)
			if err == nil && len(rest) > 0 {
				err = fmt.Errorf("unknown command %q for %q", rest[0], cmd.CommandPath())
			}
			if err != nil {
				return &cli.InputError{Err: fmt.Errorf("help: %w", err)}
			}
			cmd.SetOut(c.OutOrStdout())
			return cmd.Help()
		},
	}
}

// completionExamples gives cobra's completion commands an example each.
func completionExamples(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Example = "  graylane completion bash > /etc/bash_completion.d/graylane\n  source <(graylane completion zsh)"
		for _, sh := range c.Commands() {
			switch sh.Name() {
			case "bash":
				sh.Example = "  graylane completion bash > /etc/bash_completion.d/graylane"
			case "zsh":
				sh.Example = "  graylane completion zsh > \"${fpath[1]}/_graylane\""
			case "fish":
				sh.Example = "  graylane completion fish > ~/.config/fish/completions/graylane.fish"
			case "powershell":
				sh.Example = "  graylane completion powershell | Out-String | Invoke-Expression"
			}
		}
	}
}
