package dev.tollgate.escrow.settle;

import java.util.List;
import org.jctools.queues.MpscUnboundedXaddArrayQueue;

/**
 * Ledger work decided in memory on a request's path (an escrow lock admitted against {@code AvailableFunds},
 * a progress checkpoint of a long stream) and written durably in the journal's next group commit, before the
 * usage records of that commit. A request's lock is offered before its usage record is submitted, so the
 * journal always finds the lock written when the usage arrives.
 *
 * <p>Threading: {@link #offer} from any thread (event loops), never blocks; {@link #drainTo} from the journal's
 * single writer only.
 */
final class LedgerIntents {
    /** An escrow lock for one request, already reserved in memory. */
    record Lock(String requestId, String account, String worker, String model, long amountMicros,
                long expiresAtMillis) {
    }

    /** Dev funding of an account on its first use (counted in memory already). */
    record Credit(String opId, String account, long micros) {
    }

    /** Served tokens so far of a long stream, for settling it if the process dies before its end. */
    record Progress(String requestId, String model, long promptTokens, long completionTokens) {
    }

    private final MpscUnboundedXaddArrayQueue<Object> queue = new MpscUnboundedXaddArrayQueue<>(1024);

    void offer(Object intent) {
        queue.offer(intent);
    }

    boolean isEmpty() {
        return queue.isEmpty();
    }

    /** Moves every queued intent to {@code out}, in order. */
    void drainTo(List<Object> out) {
        queue.drain(out::add);
    }
}
