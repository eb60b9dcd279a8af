package dev.tollgate.escrow.settle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;

/** The journal writer's hand-off: readers wait for what was handed before them, and a backlog slows the producer. */
class JournalWriterTest {
    private static final UsageRecord RECORD = new UsageRecord("r", "a", "up", "m", Route.CHAT_COMPLETIONS, false, 1, 1,
            UsageSource.UPSTREAM, 1, 0, 1, 1, 1, 1, Outcome.COMPLETED, 200);

    private static JournalBatch batch(JournalWriter w, int records) {
        return new JournalBatch(List.of(), Collections.nCopies(records, RECORD), -1, w.nextTicket(),
                System.nanoTime());
    }

    private static void until(BooleanSupplier condition, String what) {
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for: " + what);
            }
            LockSupport.parkNanos(1_000_000L);
        }
    }

    @Test
    void aReaderWaitsForEverythingHandedOverBeforeItAskedAndNoLonger() {
        List<Integer> committed = Collections.synchronizedList(new ArrayList<>());
        JournalWriter w = new JournalWriter(work -> work.forEach(b -> committed.add(b.records().size())));
        w.start();
        w.handOver(batch(w, 3), false);
        w.handOver(batch(w, 4), false);
        w.awaitHandedOver();
        assertEquals(7, committed.stream().mapToInt(Integer::intValue).sum(), "both batches committed");
        assertTrue(!w.behind());
        w.close();
    }

    @Test
    void stalledTimeCountsFromTheFirstWaitingEntryOrTheLastCommitAndIsZeroWhenNothingWaits() {
        Semaphore commits = new Semaphore(0);
        JournalWriter w = new JournalWriter(work -> commits.acquireUninterruptibly());
        w.start();
        assertEquals(0, w.stalledNanos(System.nanoTime() + 1_000_000_000L), "nothing waits");
        long t0 = System.nanoTime() - 1_000_000_000L; // handed a second ago: no linger
        JournalBatch first = new JournalBatch(List.of(), List.of(RECORD, RECORD), -1, w.nextTicket(), t0);
        w.offer(first);
        // The writer takes the batch out of the waiting count when its commit starts, then holds there.
        JournalBatch second = new JournalBatch(List.of(), List.of(RECORD), -1, w.nextTicket(), t0 + 20_000_000L);
        until(() -> w.waitingEntries() == 0, "the writer took the first batch");
        w.offer(second);
        // The second batch found the writer with nothing waiting: it waits from its own hand-off, 20 ms after the first.
        assertEquals(40_000_000L, w.stalledNanos(t0 + 60_000_000L));
        commits.release(2);
        w.awaitHandedOver();
        assertEquals(0, w.stalledNanos(System.nanoTime()), "nothing waits after the commits");
        w.close();
    }

    @Test
    void aBacklogPastTheBoundStopsTheProducerUntilTheWriterCatchesUp() throws Exception {
        Semaphore commits = new Semaphore(0);
        AtomicInteger committedRecords = new AtomicInteger();
        JournalWriter w = new JournalWriter(work -> {
            commits.acquireUninterruptibly();
            work.forEach(b -> committedRecords.addAndGet(b.records().size()));
        });
        w.start();
        // Enough to pass the bound even after the writer took its first commit's worth out of the waiting count.
        int batches = JournalWriter.MAX_WAITING_ENTRIES / 1000 + 10;
        AtomicInteger handed = new AtomicInteger();
        Thread producer = new Thread(() -> {
            for (int i = 0; i < batches; i++) {
                w.handOver(batch(w, 1000), false);
                handed.incrementAndGet();
            }
        });
        producer.start();
        // The writer holds its first commit; the producer goes on until the bound, then waits.
        until(() -> w.backPressuredCount() >= 1 && producer.getState() == Thread.State.TIMED_WAITING,
                "the producer held back");
        int held = handed.get();
        assertTrue(held < batches, "stopped before handing everything over: " + held);
        assertTrue(w.waitingEntries() <= JournalWriter.MAX_WAITING_ENTRIES + 1000,
                "bounded (the batch that crossed the bound is in): " + w.waitingEntries());
        assertTrue(w.waitingEntries() >= JournalWriter.MAX_WAITING_ENTRIES / 2,
                "held only once the backlog was large: " + w.waitingEntries());

        commits.release(Integer.MAX_VALUE / 2);
        producer.join(20_000);
        assertEquals(batches, handed.get(), "let go once the writer caught up");
        w.awaitHandedOver();
        assertEquals(batches * 1000, committedRecords.get(), "every record committed once");
        w.close();
    }
}
