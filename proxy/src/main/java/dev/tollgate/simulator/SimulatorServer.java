package dev.tollgate.simulator;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An OpenAI-compatible server that behaves like vLLM on the wire, for tests, the demo and benchmarks.
 *
 * <p>Threading: {@link #start} and {@link #close} from any thread; connections run on the server's own
 * event loops.
 */
public final class SimulatorServer implements AutoCloseable {
    private final EventLoopGroup group;
    private final Channel channel;
    private final AtomicLong served;

    private SimulatorServer(EventLoopGroup group, Channel channel, AtomicLong served) {
        this.group = group;
        this.channel = channel;
        this.served = served;
    }

    public static SimulatorServer start(SimulatorConfig cfg) throws InterruptedException {
        FaultPlan.parse(cfg.defaultFault());
        if (cfg.tokensPerChunk() < 1) {
            throw new IllegalArgumentException("tokensPerChunk must be >= 1");
        }
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
        AtomicLong served = new AtomicLong();
        try {
            Channel ch = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                    .option(ChannelOption.SO_BACKLOG, 1024)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(32 * 1024, 64 * 1024))
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast("http-codec", new HttpServerCodec());
                            ch.pipeline().addLast("request-body", new HttpObjectAggregator(16 * 1024 * 1024));
                            ch.pipeline().addLast("simulator", new SimulatorHandler(cfg, served));
                        }
                    })
                    .bind(cfg.host(), cfg.port()).sync().channel();
            return new SimulatorServer(group, ch, served);
        } catch (InterruptedException | RuntimeException e) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            throw e;
        }
    }

    public int port() {
        return ((InetSocketAddress) channel.localAddress()).getPort();
    }

    /** {@code http://host:port/v1}. */
    public String baseUrl() {
        String host = ((InetSocketAddress) channel.localAddress()).getHostString();
        return "http://" + host + ":" + port() + "/v1";
    }

    /** Requests answered (or faulted) so far. */
    public long requestsServed() {
        return served.get();
    }

    @Override
    public void close() {
        channel.close().syncUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
