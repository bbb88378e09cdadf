// Command creditdesk is a terminal console for founders who sell credit
// packs and subscription plans with Stripe: a Bubble Tea console, an
// embedded Stripe webhook receiver and a bbolt store in one binary.
//
//	creditdesk                 console + webhook receiver
//	creditdesk serve           receiver and processor, no console
//	creditdesk demo            console fed by a built-in Stripe simulator
//	creditdesk help            every command
package main

import (
	"os"

	"creditdesk/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
