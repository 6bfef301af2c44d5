package bbolt

import (
	"path/filepath"
	"sync"
)

// openFiles holds the stores this process has open, by absolute path.
// bbolt's flock would refuse a second open of the same file from this
// process too, but only after LockTimeout and with an error that blames
// another process; the registry answers at once and says what happened
// (typically a config reload opening the store before the old config
// closed it: the Caddy module must share one *Bolt across reloads).
var openFiles = struct {
	sync.Mutex
	paths map[string]bool
}{paths: map[string]bool{}}

// claimPath records path as open, or reports that it already is. The
// returned key is what releasePath takes.
func claimPath(path string) (key string, ok bool) {
	key, err := filepath.Abs(path)
	if err != nil {
		key = filepath.Clean(path)
	}
	openFiles.Lock()
	defer openFiles.Unlock()
	if openFiles.paths[key] {
		return key, false
	}
	openFiles.paths[key] = true
	return key, true
}

func releasePath(key string) {
	openFiles.Lock()
	delete(openFiles.paths, key)
	openFiles.Unlock()
}
