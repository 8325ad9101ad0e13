package ctrlutil

import "sync"

// SlowStartInitialBatch is the first batch size of SlowStartBatch.
const SlowStartInitialBatch = 1

// SlowStartBatch calls fn count times in batches of 1, 2, 4, ... running
// each batch in parallel, and stops after the first batch with a failure.
// It returns how many calls succeeded and the first error. Why: an owner
// that can't create pods (quota, bad template) should fail once, not flood
// the API server and the Event stream with count identical errors.
func SlowStartBatch(count, initial int, fn func() error) (int, error) {
	remaining := count
	successes := 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
		errCh := make(chan error, batch)
		var wg sync.WaitGroup
		wg.Add(batch)
		for i := 0; i < batch; i++ {
			go func() {
				defer wg.Done()
				if err := fn(); err != nil {
					errCh <- err
				}
			}()
		}
		wg.Wait()
		successes += batch - len(errCh)
		if len(errCh) > 0 {
			return successes, <-errCh
		}
		remaining -= batch
	}
	return successes, nil
}
