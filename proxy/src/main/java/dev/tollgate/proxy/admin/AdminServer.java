package dev.tollgate.proxy.admin;

import dev.tollgate.proxy.config.HostPort;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.util.concurrent.DefaultEventExecutorGroup;
import io.netty.util.concurrent.EventExecutorGroup;
import java.net.InetSocketAddress;
import java.util.List;

/**
 * The admin listener: Prometheus metrics, health, and the JSON admin API. Its handlers run on a small
 * executor group of their own so that database reads never stall a proxy event loop.
 *
 * <p>Threading: {@link #bind} and {@link #close} from any thread.
 */
public final class AdminServer implements AutoCloseable {
    private final Channel channel;
    private final EventExecutorGroup executor;

    private AdminServer(Channel channel, EventExecutorGroup executor) {
        this.channel = channel;
        this.executor = executor;
    }

    public static AdminServer bind(HostPort address, EventLoopGroup group, String adminToken,
                                   List<AdminRoutes> routes) throws InterruptedException {
        EventExecutorGroup executor = new DefaultEventExecutorGroup(2);
        ServerBootstrap b = new ServerBootstrap()
                .group(group)
                .channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast("http-codec", new HttpServerCodec());
                        ch.pipeline().addLast("request-body", new HttpObjectAggregator(1024 * 1024));
                        ch.pipeline().addLast(executor, "admin", new AdminHandler(adminToken, routes));
                    }
                });
        Channel ch = b.bind(address.host(), address.port()).sync().channel();
        return new AdminServer(ch, executor);
    }

    public int port() {
        return ((InetSocketAddress) channel.localAddress()).getPort();
    }

    @Override
    public void close() {
        channel.close().syncUninterruptibly();
        executor.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
    }
}
