package dev.tollgate.proxy;

import dev.tollgate.metering.agent.PrometheusText;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * How many response bytes the proxy holds: pulled from upstreams and not yet written to client sockets (what
 * relays hold back plus the clients' pending writes), summed over the exchanges that are relaying a response.
 * Exported as {@code tollgate_relay_held_bytes}; with back-pressure it stays near one write-buffer high-water
 * mark plus one upstream read plus one SSE event per stalled client.
 *
 * <p>Threading: exchanges register and unregister on their event loops (once per request); {@link #heldBytes}
 * runs on any thread and reads each exchange's figures without locking, so it is a snapshot, not a sum at one
 * instant.
 */
public final class RelayGauge {
    private final Set<Exchange> relaying = ConcurrentHashMap.newKeySet();

    void register(Exchange exchange) {
        relaying.add(exchange);
    }

    void unregister(Exchange exchange) {
        relaying.remove(exchange);
    }

    /** Response bytes held by the proxy right now. */
    public long heldBytes() {
        long sum = 0;
        for (Exchange e : relaying) {
            sum += e.heldBytes();
        }
        return sum;
    }

    /** Appends the gauge in Prometheus text format. */
    public void writePrometheus(StringBuilder sb) {
        PrometheusText.gauge(sb, "tollgate_relay_held_bytes",
                "Response bytes pulled from upstreams and not yet written to client sockets.", heldBytes());
    }
}
