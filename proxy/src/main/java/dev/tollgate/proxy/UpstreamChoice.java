package dev.tollgate.proxy;

import dev.tollgate.proxy.upstream.Upstream;
import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.Future;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * The upstream one request goes to: picked by least outstanding requests, its in-flight slot held until
 * {@link #releaseSlot}, and another upstream tried when a connection cannot be opened (nothing of the request
 * was sent yet).
 *
 * <p>Threading: confined to the exchange's event loop.
 */
final class UpstreamChoice {
    /** How the connection attempts end. */
    interface Connected {
        void onConnected(Channel ch);

        /** Every upstream was tried and none could be reached. */
        void onUnreachable();
    }

    private final ProxyServices services;
    private final List<Upstream> tried = new ArrayList<>(2);
    private Upstream upstream;
    private boolean holdsSlot;

    UpstreamChoice(ProxyServices services) {
        this.services = services;
    }

    /** Picks an upstream not tried yet and takes its slot; false when there is none. */
    boolean pick() {
        Upstream u = services.upstreams().acquire(tried, System.nanoTime());
        if (u == null) {
            return false;
        }
        upstream = u;
        holdsSlot = true;
        tried.add(u);
        return true;
    }

    /** The upstream picked last, or null. */
    Upstream upstream() {
        return upstream;
    }

    /**
     * Connects to the picked upstream on {@code loop}, moving on to the next upstream when a connection fails. A
     * connection that arrives once {@code abandoned} is true is closed.
     */
    void connect(EventLoop loop, BooleanSupplier abandoned, Connected then) {
        Future<Channel> f = services.connector().acquire(upstream, loop);
        f.addListener(done -> {
            if (abandoned.getAsBoolean()) {
                if (done.isSuccess()) {
                    f.getNow().close();
                }
                return;
            }
            if (done.isSuccess()) {
                services.upstreams().connectSucceeded(upstream);
                then.onConnected(f.getNow());
                return;
            }
            services.upstreams().connectFailed(upstream, System.nanoTime());
            releaseSlot();
            if (pick()) {
                connect(loop, abandoned, then);
            } else {
                then.onUnreachable();
            }
        });
    }

    /** Gives the upstream's in-flight slot back (once). */
    void releaseSlot() {
        if (holdsSlot) {
            holdsSlot = false;
            services.upstreams().done(upstream);
        }
    }
}
