package dev.tollgate.simulator.runpod;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;

/**
 * A RunPod serverless endpoint on the wire, for tests and the demo: the native queue API ({@code /v2/<id>/run},
 * {@code /runsync}, {@code /status}, {@code /stream}, {@code /cancel}, {@code /retry}, {@code /purge-queue},
 * {@code /health}) with worker-vllm's output formats (see {@link RunPodSimHandler}, {@link SimJob},
 * {@link SimOutput}). Deterministic: jobs advance per look, not per unit of time.
 *
 * <p>Simpler than RunPod: one endpoint of any id, jobs are never deleted by their TTL except with the
 * {@code expire} fault, webhooks are not called, {@code executionTimeout} and {@code lowPriority} are ignored.
 *
 * <p>Threading: {@link #start} and {@link #close} from any thread; connections run on the server's event loop.
 */
public final class RunPodSimulator implements AutoCloseable {
    private final EventLoopGroup group;
    private final Channel channel;
    private final RunPodSimHandler.State state;

    private RunPodSimulator(EventLoopGroup group, Channel channel, RunPodSimHandler.State state) {
        this.group = group;
        this.channel = channel;
        this.state = state;
    }

    /**
     * @param apiKey       the key clients must send ({@code Authorization}, with or without {@code Bearer}), or null
     * @param defaultFault fault for jobs whose input has no {@code sim_fault}, or null
     */
    public static RunPodSimulator start(String host, int port, String apiKey, String model, String defaultFault)
            throws InterruptedException {
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        RunPodSimHandler.State state = new RunPodSimHandler.State(apiKey, model, defaultFault);
        try {
            Channel ch = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(new HttpServerCodec());
                            ch.pipeline().addLast(new HttpObjectAggregator(20 * 1024 * 1024));
                            ch.pipeline().addLast(new RunPodSimHandler(state));
                        }
                    })
                    .bind(host, port).sync().channel();
            return new RunPodSimulator(group, ch, state);
        } catch (InterruptedException | RuntimeException e) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            throw e;
        }
    }

    /** {@code http://host:port}: the {@code url} of a {@code kind: runpod} upstream. */
    public String origin() {
        InetSocketAddress a = (InetSocketAddress) channel.localAddress();
        return "http://" + a.getHostString() + ":" + a.getPort();
    }

    /** Jobs submitted so far ({@code /run} and {@code /runsync}). */
    public int jobsSubmitted() {
        return state.submitted();
    }

    /** {@code /status} calls answered so far (any status). */
    public int statusCalls() {
        return state.statusCalls();
    }

    /** {@code /cancel} calls that cancelled a job. */
    public int cancels() {
        return state.cancels();
    }

    /** A job's current status, or null when the simulator has no such job. */
    public String status(String jobId) {
        return state.status(jobId);
    }

    /** Lets a {@code hang} job go on to complete at its next looks. */
    public void release(String jobId) {
        state.release(jobId);
    }

    @Override
    public void close() {
        channel.close().syncUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
