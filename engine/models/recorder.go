package models

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/agentgate/agentgate/state"
	"go.uber.org/zap"
)

// Recorder writes usage records off the request path: records queue in
// memory and a single goroutine commits them in batches, so a busy gateway
// does one fsync per batch instead of one per request. A clean Close
// commits everything queued; a crash loses at most the records of the last
// FlushInterval (the responses they describe have already been served).
type Recorder struct {
	store    state.Store
	log      *zap.Logger
	interval time.Duration
	maxBatch int

	mu      sync.Mutex
	pending []state.UsageRecord
	// spare is the last batch the store took, emptied: the next batch
	// queues into it rather than growing a new slice record by record.
	spare   []state.UsageRecord
	flushes []chan error // waiters for the next commit, told how it went

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

// NewRecorder starts a recorder committing at least every interval.
func NewRecorder(store state.Store, log *zap.Logger, interval time.Duration) *Recorder {
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	r := &Recorder{
		store: store, log: log, interval: interval, maxBatch: 1024,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go r.loop()
	return r
}

// Record queues rec for the next batch. After Close, when no batch will
// follow, it is written at once.
func (r *Recorder) Record(rec state.UsageRecord) {
	select {
	case <-r.done:
		if err := r.store.AppendUsage(context.Background(), []state.UsageRecord{rec}); err != nil {
			r.log.Error("writing a usage record after the recorder stopped", zap.String("id", rec.ID), zap.Error(err))
		}
		return
	default:
	}
	r.mu.Lock()
	r.pending = append(r.pending, rec)
	full := len(r.pending) >= r.maxBatch
	r.mu.Unlock()
	if full {
		r.poke()
	}
}

func (r *Recorder) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Flush commits everything queued so far and waits for it, so reads that
// follow (logs, profile, quota seeds) see every record of requests already
// answered. When the store refused the commit, it returns the store's
// error: the records stay queued for the next one, and a read now would
// miss them.
func (r *Recorder) Flush(ctx context.Context) error {
	ch := make(chan error, 1)
	r.mu.Lock()
	r.flushes = append(r.flushes, ch)
	r.mu.Unlock()
	r.poke()
	select {
	case err := <-ch:
		return err
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retry handles a batch the store refused. A record the store can never
// take (an invalid id) must not hold back the others, so the batch is
// written record by record and such records are dropped with a log line;
// anything else (a full disk) is kept for the next commit. It returns the
// error of the records kept, nil when none is.
func (r *Recorder) retry(batch []state.UsageRecord, err error) error {
	if !errors.Is(err, state.ErrInvalidID) {
		r.log.Error("writing usage records; will retry", zap.Int("records", len(batch)), zap.Error(err))
		r.mu.Lock()
		r.pending = append(batch, r.pending...)
		r.mu.Unlock()
		return err
	}
	var keep []state.UsageRecord
	var keptErr error
	for _, rec := range batch {
		err := r.store.AppendUsage(context.Background(), []state.UsageRecord{rec})
		switch {
		case err == nil:
		case errors.Is(err, state.ErrInvalidID):
			r.log.Error("dropping a usage record the store cannot take", zap.String("id", rec.ID), zap.Error(err))
		default:
			keep, keptErr = append(keep, rec), err
		}
	}
	if len(keep) > 0 {
		r.log.Error("writing usage records; will retry", zap.Int("records", len(keep)), zap.Error(keptErr))
		r.mu.Lock()
		r.pending = append(keep, r.pending...)
		r.mu.Unlock()
	}
	return keptErr
}

// Close commits what is queued and stops the recorder.
func (r *Recorder) Close() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}

func (r *Recorder) loop() {
	defer close(r.done)
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-r.kick:
		case <-r.stop:
			r.drain()
			return
		}
		r.commit()
	}
}

// drainAttempts and drainPause bound how long Close keeps trying to write
// records a store refused (a shared database briefly away): about 15s.
const (
	drainAttempts = 8
	drainPause    = 250 * time.Millisecond
)

// drain commits what is queued, trying again while the store refuses it,
// then gives up on what is left, saying how much.
func (r *Recorder) drain() {
	pause := drainPause
	for attempt := 1; ; attempt++ {
		r.commit()
		r.mu.Lock()
		left := len(r.pending)
		r.mu.Unlock()
		if left == 0 {
			return
		}
		if attempt == drainAttempts {
			r.log.Error("stopping with usage records the store did not take; they are lost", zap.Int("records", left))
			return
		}
		time.Sleep(pause)
		pause = min(2*pause, 4*time.Second)
	}
}

func (r *Recorder) commit() {
	r.mu.Lock()
	batch, waiters := r.pending, r.flushes
	r.pending, r.spare, r.flushes = r.spare, nil, nil
	r.mu.Unlock()
	var err error
	if len(batch) > 0 {
		if err = r.store.AppendUsage(context.Background(), batch); err != nil {
			err = r.retry(batch, err)
		} else {
			clear(batch) // the store keeps none of it
			r.mu.Lock()
			r.spare = batch[:0]
			r.mu.Unlock()
		}
	}
	for _, ch := range waiters {
		ch <- err
	}
}
