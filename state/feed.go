package state

import "sync"

// Feed delivers changes to subscribers; backends build their Changes on
// it. Each subscriber has its own goroutine and queue, so a slow one
// holds up no writer and no other subscriber; a queue that grows past
// feedQueueLimit is replaced by one ChangeGap (the subscriber reloads
// instead of catching up).
type Feed struct {
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
}

// feedQueueLimit is how many undelivered changes one subscriber may have.
const feedQueueLimit = 4096

type subscriber struct {
	fn    func(Change)
	mu    sync.Mutex
	queue []Change
	// down is set while the last gap pushed said the feed is not live,
	// so a collapsed queue keeps saying so.
	down   bool
	wake   chan struct{}
	stop   chan struct{}
	closed bool
}

// Subscribe implements Changes.
func (f *Feed) Subscribe(fn func(Change)) (cancel func()) {
	s := &subscriber{fn: fn, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return func() {}
	}
	if f.subs == nil {
		f.subs = map[*subscriber]struct{}{}
	}
	f.subs[s] = struct{}{}
	f.mu.Unlock()
	go s.run()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			delete(f.subs, s)
			f.mu.Unlock()
			s.close()
		})
	}
}

// Publish queues c for every subscriber.
func (f *Feed) Publish(c Change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		s.push(c)
	}
}

// Close stops every subscription; later ones get nothing.
func (f *Feed) Close() {
	f.mu.Lock()
	subs := f.subs
	f.subs, f.closed = nil, true
	f.mu.Unlock()
	for s := range subs {
		s.close()
	}
}

func (s *subscriber) push(c Change) {
	s.mu.Lock()
	if c.Kind == ChangeGap {
		s.down = !c.Live
	}
	if len(s.queue) >= feedQueueLimit {
		clear(s.queue)
		s.queue = append(s.queue[:0], Change{Kind: ChangeGap, Live: !s.down})
	} else {
		s.queue = append(s.queue, c)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscriber) close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.stop)
	}
	s.mu.Unlock()
}

func (s *subscriber) run() {
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
		}
		for {
			s.mu.Lock()
			if s.closed || len(s.queue) == 0 {
				s.mu.Unlock()
				break
			}
			c := s.queue[0]
			s.queue[0] = Change{}
			s.queue = s.queue[1:]
			s.mu.Unlock()
			s.fn(c)
		}
	}
}
