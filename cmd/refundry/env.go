package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// envPrefix starts the environment twin of every flag.
const envPrefix = "REFUNDRY_"

// benchEnvPrefix starts bench's twins. bench is run on machines where
// serve's own twins are set (REFUNDRY_DB, and REFUNDRY_KEY as the demo
// prints it): sharing them would point a load test at the live database.
const benchEnvPrefix = "REFUNDRY_BENCH_"

// envName is the environment twin of a flag: the prefix and the flag's
// name in upper case with dashes as underscores (--stripe-api-base is
// REFUNDRY_STRIPE_API_BASE).
func envName(prefix, flagName string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// twinNames renames the twins that would otherwise mean different things
// in different commands: REFUNDRY_NAME exported for a key would name the
// next merchant, REFUNDRY_OUT set for a backup would overwrite a refund's
// outcome file. Each is named after its command instead. The keys are
// the flag sets' names.
var twinNames = map[string]map[string]string{
	"refundry merchant create": {"name": "REFUNDRY_MERCHANT_NAME"},
	"refundry key create":      {"name": "REFUNDRY_KEY_NAME"},
	"refundry key revoke":      {"id": "REFUNDRY_KEY_ID"},
	"refundry backup":          {"out": "REFUNDRY_BACKUP_OUT"},
	"refundry refund":          {"out": "REFUNDRY_REFUND_OUT"},
	"refundry export refunds":  {"since": "REFUNDRY_EXPORT_SINCE", "until": "REFUNDRY_EXPORT_UNTIL", "out": "REFUNDRY_EXPORT_OUT"},
	"refundry gateway add":     {"kind": "REFUNDRY_GATEWAY_KIND", "base-url": "REFUNDRY_GATEWAY_BASE_URL", "credential": "REFUNDRY_GATEWAY_CREDENTIAL"},
	"refundry gateway remove":  {"id": "REFUNDRY_GATEWAY_ID"},
}

// twinName is the environment twin of a flag of fs.
func twinName(fs *flag.FlagSet, prefix, flagName string) string {
	if name, ok := twinNames[fs.Name()][flagName]; ok {
		return name
	}
	return envName(prefix, flagName)
}

// parseFlagsEnv parses a subcommand's flags with REFUNDRY_ twins.
func parseFlagsEnv(fs *flag.FlagSet, args []string, getenv func(string) string, stdout io.Writer) error {
	return parseFlagsEnvPrefix(fs, args, getenv, stdout, envPrefix)
}

// parseFlagsEnvPrefix parses a subcommand's flags, then gives every flag
// not set on the command line the value of its environment twin, if that
// is set: the command line wins over the environment, which wins over the
// default. Each flag's help names its twin, so that -h lists them all. A
// twin with a value the flag refuses is a usage error naming the variable.
func parseFlagsEnvPrefix(fs *flag.FlagSet, args []string, getenv func(string) string, stdout io.Writer, prefix string) error {
	fs.VisitAll(func(f *flag.Flag) {
		if name := twinName(fs, prefix, f.Name); !strings.Contains(f.Usage, name) {
			f.Usage += " (env " + name + ")"
		}
	})
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		name := twinName(fs, prefix, f.Name)
		v := getenv(name)
		if v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %v", name, v, err))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return usageError{err.Error()}
	}
	return nil
}

// requiredFlag is a flag a subcommand needs, by the name its usage shows
// it under; value nil means the subcommand does not take it.
type requiredFlag struct {
	name  string
	value *string
}

// requireFlags refuses a command missing any of flags that it takes,
// naming every one missing at once rather than the first.
func requireFlags(fs *flag.FlagSet, command string, flags []requiredFlag) error {
	var missing []string
	for _, f := range flags {
		if f.value != nil && *f.value == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	fs.Usage()
	return usageError{fmt.Sprintf("%s needs %s", command, strings.Join(missing, " and "))}
}
