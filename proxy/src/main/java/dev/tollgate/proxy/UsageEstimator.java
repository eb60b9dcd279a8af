package dev.tollgate.proxy;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The thread that counts tokens with the tokenizer when an upstream reported no usage. Tokenizing a large prompt
 * or response takes long enough (about 0.4 s for 4 MB) to stall every connection of an event loop, so it never
 * runs there. One daemon thread: estimates are rare (third-party upstreams, cut streams) and keep their order.
 *
 * <p>Threading: {@link #execute} from any thread.
 */
final class UsageEstimator {
    private static final ExecutorService THREAD = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "tollgate-usage-estimator");
        t.setDaemon(true);
        return t;
    });

    private UsageEstimator() {
    }

    static void execute(Runnable task) {
        THREAD.execute(task);
    }
}
