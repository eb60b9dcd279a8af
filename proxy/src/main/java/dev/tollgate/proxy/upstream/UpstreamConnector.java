package dev.tollgate.proxy.upstream;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoop;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.FastThreadLocal;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;

/**
 * Opens and reuses upstream connections. Connections live on the event loop of the client that uses them
 * (one thread per exchange, no locks); idle keep-alive connections are pooled per event loop and per upstream.
 * Upstream channels never auto-read: the relay calls {@code read()} when the client can take more.
 *
 * <p>Threading: {@link #acquire} and {@link #release} must be called on the given event loop.
 */
public final class UpstreamConnector {
    /** Pipeline names on an upstream channel. */
    public static final String TLS = "tls";
    public static final String CODEC = "http-client";
    public static final String IDLE = "idle";
    public static final String RELAY = "upstream-relay";

    private static final int MAX_IDLE_PER_UPSTREAM = 256;

    private final int connectTimeoutMillis;
    private final int idleTimeoutMillis;
    private final SslContext sslContext;
    private final FastThreadLocal<Map<Upstream, ArrayDeque<Channel>>> idle = new FastThreadLocal<>() {
        @Override
        protected Map<Upstream, ArrayDeque<Channel>> initialValue() {
            return new HashMap<>();
        }
    };

    public UpstreamConnector(int connectTimeoutMillis, int idleTimeoutMillis, SslContext sslContext) {
        this.connectTimeoutMillis = connectTimeoutMillis;
        this.idleTimeoutMillis = idleTimeoutMillis;
        this.sslContext = sslContext;
    }

    /**
     * A connection to {@code upstream} on {@code loop}: a pooled idle one when available, else a new one. The
     * returned channel's {@link UpstreamRelayHandler} has no exchange yet.
     */
    public Future<Channel> acquire(Upstream upstream, EventLoop loop) {
        Promise<Channel> promise = loop.newPromise();
        ArrayDeque<Channel> pool = idle.get().get(upstream);
        while (pool != null && !pool.isEmpty()) {
            Channel ch = pool.pollLast();
            if (ch.isActive()) {
                return promise.setSuccess(ch);
            }
        }
        Bootstrap b = new Bootstrap()
                .group(loop)
                .channel(Transports.socketChannel(loop))
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, connectTimeoutMillis)
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(32 * 1024, 64 * 1024))
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ChannelPipeline p = ch.pipeline();
                        if (upstream.tls()) {
                            p.addLast(TLS, newSslHandler(ch, upstream));
                        }
                        p.addLast(CODEC, new HttpClientCodec(4096, 16 * 1024, 64 * 1024));
                        p.addLast(IDLE, new IdleStateHandler(idleTimeoutMillis, 0, 0, TimeUnit.MILLISECONDS));
                        p.addLast(RELAY, new UpstreamRelayHandler());
                    }
                });
        ChannelFuture cf = b.connect(upstream.host(), upstream.port());
        cf.addListener(f -> {
            if (!f.isSuccess()) {
                promise.tryFailure(f.cause());
                return;
            }
            // Once per connection, not per reuse: a closed connection leaves its pool.
            Channel ch = cf.channel();
            ch.closeFuture().addListener(closed -> removeFromPool(upstream, ch));
            SslHandler tls = cf.channel().pipeline().get(SslHandler.class);
            if (tls == null) {
                promise.trySuccess(cf.channel());
                return;
            }
            tls.handshakeFuture().addListener(h -> {
                if (h.isSuccess()) {
                    promise.trySuccess(cf.channel());
                } else {
                    cf.channel().close();
                    promise.tryFailure(h.cause());
                }
            });
            // The handshake needs reads even though the channel does not auto-read.
            cf.channel().read();
        });
        return promise;
    }

    private SslHandler newSslHandler(SocketChannel ch, Upstream upstream) {
        SslHandler handler = sslContext.newHandler(ch.alloc(), upstream.host(), upstream.port());
        SSLEngine engine = handler.engine();
        SSLParameters params = engine.getSSLParameters();
        params.setEndpointIdentificationAlgorithm("HTTPS");
        engine.setSSLParameters(params);
        return handler;
    }

    /**
     * Returns a connection whose exchange ended cleanly with a keep-alive response. Keeps one read pending
     * while it is idle, so that a close by the upstream is noticed and the connection leaves the pool.
     */
    public void release(Upstream upstream, Channel ch) {
        UpstreamRelayHandler relay = ch.pipeline().get(UpstreamRelayHandler.class);
        if (!ch.isActive() || relay == null) {
            ch.close();
            return;
        }
        relay.detach();
        ArrayDeque<Channel> pool = idle.get().computeIfAbsent(upstream, u -> new ArrayDeque<>());
        if (pool.size() >= MAX_IDLE_PER_UPSTREAM) {
            ch.close();
            return;
        }
        pool.addLast(ch);
        ch.read();
    }

    /** Runs on the channel's event loop, whose pool map is the one the channel was released to. */
    private void removeFromPool(Upstream upstream, Channel ch) {
        ArrayDeque<Channel> pool = idle.get().get(upstream);
        if (pool != null) {
            pool.remove(ch);
        }
    }

    /** Idle pooled connections to {@code upstream} on the calling event loop. */
    public int idleConnections(Upstream upstream) {
        ArrayDeque<Channel> pool = idle.get().get(upstream);
        return pool == null ? 0 : pool.size();
    }
}
