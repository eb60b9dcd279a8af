package dev.tollgate.proxy;

import dev.tollgate.proxy.upstream.Upstream;
import dev.tollgate.proxy.upstream.UpstreamEvents;
import dev.tollgate.proxy.upstream.UpstreamRelayHandler;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.FullHttpRequest;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * The upstream side of one exchange: the connection its request goes out on, read one read at a time, and given
 * back to the pool (when reusable) or closed once the exchange is done with it, together with the upstream's
 * in-flight slot.
 *
 * <p>Threading: confined to the client channel's event loop; the upstream connection uses the same loop.
 */
final class UpstreamLeg {
    private final ProxyServices services;
    private final UpstreamChoice upstreams;
    private Channel channel;

    UpstreamLeg(ProxyServices services, UpstreamChoice upstreams) {
        this.services = services;
        this.upstreams = upstreams;
    }

    /** Connects to the picked upstream (or the next one), then {@code connected}; a late connection is closed. */
    void connect(EventLoop loop, BooleanSupplier abandoned, Consumer<Channel> connected, Runnable unreachable) {
        upstreams.connect(loop, abandoned, new UpstreamChoice.Connected() {
            @Override
            public void onConnected(Channel ch) {
                connected.accept(ch);
            }

            @Override
            public void onUnreachable() {
                unreachable.run();
            }
        });
    }

    /**
     * Sends the request on {@code ch}, whose events go to {@code events}, and asks for the first read. A metered
     * request goes with its rewritten body ({@code originalBody}); any other with the request's own bytes. Returns
     * when it was sent ({@link System#nanoTime}).
     */
    long send(Channel ch, UpstreamEvents events, FullHttpRequest request, MeteredRequest metered,
              byte[] originalBody) {
        channel = ch;
        ch.pipeline().get(UpstreamRelayHandler.class).attach(events);
        Upstream upstream = upstreams.upstream();
        ByteBuf body;
        if (metered != null) {
            byte[] b = metered.upstreamBody(originalBody, upstream.continuousUsage());
            body = Unpooled.wrappedBuffer(b);
        } else {
            body = request.content().retainedDuplicate();
        }
        FullHttpRequest up = ExchangeHeads.upstreamRequest(request, body, upstream, metered != null);
        long sentNanos = System.nanoTime();
        // A failed write reaches UpstreamRelayHandler.exceptionCaught, which closes the connection.
        ch.writeAndFlush(up, ch.voidPromise());
        ch.read();
        return sentNanos;
    }

    /** Whether a connection is held (sent and not yet released or closed). */
    boolean connected() {
        return channel != null;
    }

    /** Asks the upstream connection for its next read. */
    void read() {
        channel.read();
    }

    /** Closes the connection (it stopped answering); the slot stays until {@link #release}. */
    void close() {
        Channel ch = channel;
        channel = null;
        ch.close();
    }

    /** Gives the slot back, and the connection to the pool when {@code reusable}; otherwise closes it. */
    void release(boolean reusable) {
        Channel ch = channel;
        channel = null;
        upstreams.releaseSlot();
        if (ch == null) {
            return;
        }
        if (reusable) {
            services.connector().release(upstreams.upstream(), ch);
        } else {
            ch.pipeline().get(UpstreamRelayHandler.class).attach(null);
            ch.close();
        }
    }
}
