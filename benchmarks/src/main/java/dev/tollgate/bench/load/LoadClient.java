package dev.tollgate.bench.load;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.Histogram;

/**
 * A non-blocking HTTP/1.1 load generator on one event loop, with a keep-alive connection pool.
 * <ul>
 *   <li>{@link #openLoop}: requests at a constant rate, each due at {@code start + i / rate}; latency is
 *       measured from the due time (wrk2-style, corrected for coordinated omission): a slow server delays
 *       requests, and the delay counts.</li>
 *   <li>{@link #streams}: N concurrent streams kept busy; time to first token from the request's send (a
 *       connection's first stream: from the start of its connect) and the gaps between content chunks.</li>
 * </ul>
 * Threading: everything runs on the client's single event loop; results are read after a run.
 */
final class LoadClient implements AutoCloseable {
    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private final String host;
    private final int port;
    private final String authorization;

    private final long loopThreadId;
    private long completionTokens = -1;

    LoadClient(String host, int port, String authorization) {
        this.host = host;
        this.port = port;
        this.authorization = authorization;
        this.loopThreadId = group.next().submit(() -> Thread.currentThread().getId()).syncUninterruptibly().getNow();
    }

    /**
     * Asks the simulator for exactly {@code tokens} completion tokens per response (its
     * {@code x-sim-completion-tokens} header, which Tollgate forwards); without it the simulator's answer to the
     * harness's short prompt is 8 to 64 tokens, cut at {@code max_tokens}. Set before a run.
     */
    void completionTokens(long tokens) {
        this.completionTokens = tokens;
    }

    /** CPU time of the client's one event loop thread so far. */
    long loopCpuNanos() {
        return ManagementFactory.getThreadMXBean().getThreadCpuTime(loopThreadId);
    }

    /** Results of one run. */
    static final class Result {
        final Histogram latency = new Histogram(1, 60_000_000_000L, 3);
        final Histogram ttft = new Histogram(1, 60_000_000_000L, 3);
        /** Time to first token of the streams that were not their connection's first (the proxy's pool is warm). */
        final Histogram ttftReused = new Histogram(1, 60_000_000_000L, 3);
        /** How long each streaming connection took to connect. */
        final Histogram connect = new Histogram(1, 60_000_000_000L, 3);
        /** From a stream's last token to the end of its response (Tollgate holds [DONE] until usage is journaled). */
        final Histogram endWait = new Histogram(1, 60_000_000_000L, 3);
        final Histogram gaps = new Histogram(1, 60_000_000_000L, 3);
        final AtomicLong ok = new AtomicLong();
        final AtomicLong errors = new AtomicLong();
        long sent;
        double seconds;

        double achievedRate() {
            return ok.get() / seconds;
        }
    }

    private FullHttpRequest request(String path, byte[] body) {
        FullHttpRequest r = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, path,
                Unpooled.wrappedBuffer(body));
        r.headers().set(HttpHeaderNames.HOST, host + ":" + port);
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
        r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
        if (authorization != null) {
            r.headers().set(HttpHeaderNames.AUTHORIZATION, authorization);
        }
        if (completionTokens >= 0) {
            r.headers().set("x-sim-completion-tokens", completionTokens);
        }
        return r;
    }

    /** Handles one response at a time on a connection. */
    private final class Exchange extends SimpleChannelInboundHandler<HttpObject> {
        Runnable onDone;
        long sentAt;
        long lastToken;
        boolean firstSeen;
        /** Streams this connection has started. */
        int streamsOnConnection;
        /** When this connection's connect began: a connection's first stream counts its time to first token from here. */
        long connectStartedAt;
        boolean failed;
        Result result;
        boolean streaming;

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, HttpObject msg) {
            long now = System.nanoTime();
            if (msg instanceof HttpResponse r && r.status().code() != 200) {
                failed = true;
            }
            if (msg instanceof HttpContent c && streaming) {
                ByteBuf b = c.content();
                int tokens = count(b);
                if (tokens > 0) {
                    if (!firstSeen) {
                        firstSeen = true;
                        result.ttft.recordValue(Math.max(1, now - sentAt));
                        if (streamsOnConnection > 1) {
                            result.ttftReused.recordValue(Math.max(1, now - sentAt));
                        }
                    } else {
                        result.gaps.recordValue(Math.max(1, now - lastToken));
                    }
                    lastToken = now;
                }
            }
            if (msg instanceof LastHttpContent) {
                if (streaming && firstSeen) {
                    result.endWait.recordValue(Math.max(1, now - lastToken));
                }
                Runnable r = onDone;
                onDone = null;
                if (r != null) {
                    r.run();
                }
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            Runnable r = onDone;
            onDone = null;
            if (r != null) {
                failed = true;
                r.run();
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }

    private static final byte[] CONTENT = "\"delta\":{\"content\":\" ".getBytes(StandardCharsets.US_ASCII);
    private static final ByteBuf NEEDLE = Unpooled.unreleasableBuffer(Unpooled.wrappedBuffer(CONTENT));

    private static int count(ByteBuf b) {
        int n = 0;
        int from = b.readerIndex();
        int end = b.writerIndex();
        while (from < end) {
            int i = ByteBufUtil.indexOf(NEEDLE, b.slice(from, end - from));
            if (i < 0) {
                break;
            }
            n++;
            from += i + CONTENT.length;
        }
        return n;
    }

    private ChannelFuture connect(Exchange ex) {
        return new Bootstrap().group(group).channel(NioSocketChannel.class)
                .option(ChannelOption.TCP_NODELAY, true)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new HttpClientCodec(), ex);
                    }
                }).connect(host, port);
    }

    /** Sends {@code rate} requests per second for {@code seconds}; waits for the last answers (bounded). */
    Result openLoop(String path, byte[] body, int rate, double seconds, int maxConnections) throws InterruptedException {
        Result res = new Result();
        ArrayDeque<Channel> idle = new ArrayDeque<>();
        ArrayDeque<Long> backlog = new ArrayDeque<>();
        int[] open = {0};
        long total = (long) (rate * seconds);
        long start = System.nanoTime() + 50_000_000L;
        long interval = 1_000_000_000L / rate;
        long[] next = {0};
        AtomicLong finished = new AtomicLong();
        Runnable[] pump = new Runnable[1];
        pump[0] = () -> {
            long now = System.nanoTime();
            while (next[0] < total && start + next[0] * interval <= now) {
                backlog.add(start + next[0] * interval);
                next[0]++;
            }
            while (!backlog.isEmpty()) {
                Channel ch = idle.pollFirst();
                while (ch != null && !ch.isActive()) {
                    open[0]--;
                    ch = idle.pollFirst();
                }
                if (ch == null) {
                    if (open[0] >= maxConnections) {
                        break;
                    }
                    open[0]++;
                    long due = backlog.poll();
                    Exchange ex = new Exchange();
                    connect(ex).addListener((ChannelFuture f) -> {
                        if (!f.isSuccess()) {
                            open[0]--;
                            res.errors.incrementAndGet();
                            finished.incrementAndGet();
                            return;
                        }
                        send(f.channel(), ex, path, body, due, res, idle, finished);
                    });
                    continue;
                }
                Exchange ex = ch.pipeline().get(Exchange.class);
                send(ch, ex, path, body, backlog.poll(), res, idle, finished);
            }
            if (next[0] < total || !backlog.isEmpty()) {
                group.next().schedule(pump[0], 200, TimeUnit.MICROSECONDS);
            }
        };
        group.next().execute(pump[0]);
        long deadline = start + (long) (seconds * 1e9) + 10_000_000_000L;
        while (finished.get() < total && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        res.sent = total;
        res.seconds = (Math.max(System.nanoTime(), start) - start) / 1e9;
        res.errors.addAndGet(total - finished.get());
        group.next().submit(() -> idle.forEach(Channel::close)).sync();
        return res;
    }

    private void send(Channel ch, Exchange ex, String path, byte[] body, long due, Result res, ArrayDeque<Channel> idle,
                      AtomicLong finished) {
        ex.result = res;
        ex.failed = false;
        ex.streaming = false;
        ex.onDone = () -> {
            long now = System.nanoTime();
            if (ex.failed) {
                res.errors.incrementAndGet();
            } else {
                res.ok.incrementAndGet();
                res.latency.recordValue(Math.max(1, now - due));
            }
            finished.incrementAndGet();
            if (ch.isActive()) {
                idle.addLast(ch);
            }
        };
        ch.writeAndFlush(request(path, body));
    }

    /** Keeps {@code n} streams busy for {@code seconds}; each connection runs streams back to back. */
    Result streams(String path, byte[] body, int n, double seconds) throws InterruptedException {
        Result res = new Result();
        long end = System.nanoTime() + (long) (seconds * 1e9);
        AtomicLong active = new AtomicLong(n);
        for (int i = 0; i < n; i++) {
            Exchange ex = new Exchange();
            ex.result = res;
            ex.streaming = true;
            ex.connectStartedAt = System.nanoTime();
            connect(ex).addListener((ChannelFuture f) -> {
                if (!f.isSuccess()) {
                    res.errors.incrementAndGet();
                    active.decrementAndGet();
                    return;
                }
                res.connect.recordValue(Math.max(1, System.nanoTime() - ex.connectStartedAt));
                streamLoop(f.channel(), ex, path, body, res, end, active);
            });
        }
        long start = System.nanoTime();
        while (active.get() > 0 && System.nanoTime() < end + 30_000_000_000L) {
            Thread.sleep(10);
        }
        res.seconds = (System.nanoTime() - start) / 1e9;
        return res;
    }

    private void streamLoop(Channel ch, Exchange ex, String path, byte[] body, Result res, long end, AtomicLong active) {
        if (System.nanoTime() >= end || !ch.isActive()) {
            ch.close();
            active.decrementAndGet();
            return;
        }
        ex.firstSeen = false;
        ex.streamsOnConnection++;
        ex.failed = false;
        // A client's first stream waits for its connection as well (direct: to the simulator; through: to Tollgate,
        // which may open its own to the simulator): both count, as they would for a user.
        ex.sentAt = ex.streamsOnConnection == 0 ? ex.connectStartedAt : System.nanoTime();
        ex.onDone = () -> {
            if (ex.failed) {
                res.errors.incrementAndGet();
            } else {
                res.ok.incrementAndGet();
            }
            ch.eventLoop().execute(() -> streamLoop(ch, ex, path, body, res, end, active));
        };
        res.sent++;
        ch.writeAndFlush(request(path, body));
    }

    @Override
    public void close() {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
