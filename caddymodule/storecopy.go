package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/agentgate/agentgate/state"
	"github.com/agentgate/agentgate/state/bbolt"
)

// copyBatch is how many records one Import writes (one transaction).
const copyBatch = 500

// copyStore copies every object of the store from names into the empty
// store to names (`caddy agentgate store copy`), and says what it copied.
// Each is "<module>:<argument>", the argument what `storage <module>
// <argument>` takes in a Caddyfile: bbolt:<dir or file>, postgres:<dsn>.
// It is made offline: a bbolt store a running gateway holds is refused.
func copyStore(ctx context.Context, out io.Writer, from, to string) error {
	src, srcName, err := openStorage(from, true)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	defer src.Close()
	dst, dstName, err := openStorage(to, false)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	defer dst.Close()
	errStop := errors.New("stop")
	var found *state.Record
	switch err := dst.Export(ctx, func(r *state.Record) error { found = r; return errStop }); {
	case found != nil:
		return fmt.Errorf("--to: %s already holds objects (a %s, at least): copy into an empty store", dstName, found.Kind())
	case err != nil && !errors.Is(err, errStop):
		return fmt.Errorf("--to: reading %s: %w", dstName, err)
	}
	counts := map[string]int{}
	batch := make([]*state.Record, 0, copyBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := dst.Import(ctx, batch); err != nil {
			return fmt.Errorf("writing to %s: %w", dstName, err)
		}
		batch = batch[:0]
		return nil
	}
	err = src.Export(ctx, func(r *state.Record) error {
		counts[r.Kind()]++
		batch = append(batch, r)
		if len(batch) == copyBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("copying %s to %s: %w (the destination holds part of the copy: empty it before trying again)", srcName, dstName, err)
	}
	fmt.Fprintf(out, "copied %s to %s:\n", srcName, dstName)
	total := 0
	for _, kind := range state.RecordKinds {
		fmt.Fprintf(out, "%10d  %s\n", counts[kind], strings.ReplaceAll(kind, "_", " "))
		total += counts[kind]
	}
	_, err = fmt.Fprintf(out, "%10d  in all\n", total)
	return err
}

// openStorage opens the store spec names through its agentgate.storage
// module, as a Caddyfile's `storage` would. A source must exist.
func openStorage(spec string, source bool) (state.Store, string, error) {
	// Neither spec nor the part before ':' is quoted in an error: a
	// mistyped spec may be a DSN, password included.
	name, arg, ok := strings.Cut(spec, ":")
	if !ok || name == "" || arg == "" {
		return nil, "", errors.New("expected <module>:<argument>, e.g. bbolt:./data or postgres:postgres://user@host/db")
	}
	info, err := caddy.GetModule("agentgate.storage." + name)
	if err != nil {
		var names []string
		for _, m := range caddy.GetModules("agentgate.storage") {
			names = append(names, m.ID.Name())
		}
		return nil, "", fmt.Errorf("expected <module>:<argument>, the module before ':' one of %s", strings.Join(names, ", "))
	}
	mod := info.New()
	unm, ok := mod.(caddyfile.Unmarshaler)
	if !ok {
		return nil, "", fmt.Errorf("storage module %q takes no argument", name)
	}
	d := caddyfile.NewDispenser([]caddyfile.Token{{Text: name}, {Text: arg}})
	if err := unm.UnmarshalCaddyfile(d); err != nil {
		return nil, "", err
	}
	if m, ok := mod.(*bbolt.Module); ok {
		fi, err := os.Stat(arg)
		switch {
		case err == nil && !fi.IsDir():
			m.Dir, m.File = "", arg
		case source && err == nil:
			if _, err := os.Stat(m.Location()); err != nil {
				return nil, "", fmt.Errorf("no store in %s: %w", arg, err)
			}
		case source:
			return nil, "", fmt.Errorf("no store at %s: %w", arg, err)
		}
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if p, ok := mod.(caddy.Provisioner); ok {
		if err := p.Provision(ctx); err != nil {
			return nil, "", err
		}
	}
	opener, ok := mod.(state.Opener)
	if !ok {
		return nil, "", fmt.Errorf("storage module %q opens no store", name)
	}
	s, err := opener.Open()
	if errors.Is(err, bbolt.ErrLocked) {
		return nil, "", fmt.Errorf("%s is held by a running gateway: stop it first, the copy is made offline", opener.Location())
	}
	if err != nil {
		return nil, "", err
	}
	return s, name + ":" + opener.Location(), nil
}
