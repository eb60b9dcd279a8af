package dev.tollgate.testing;

import dev.tollgate.proxy.TollgateNode;
import java.util.Map;

/** Stops a test's node and fails the test if blocking work (database, tokenizer) ever ran on its event loops. */
public final class NodeShutdown {
    private NodeShutdown() {
    }

    public static void closeChecked(TollgateNode node) {
        Map<String, Long> blocking = node.eventLoops().hits();
        node.close();
        if (!blocking.isEmpty()) {
            throw new AssertionError("blocking work ran on an event loop: " + blocking);
        }
    }
}
