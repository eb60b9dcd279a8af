package dev.tollgate.proxy;

import dev.tollgate.proxy.config.HostPort;
import dev.tollgate.proxy.upstream.Transports;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerKeepAliveHandler;
import io.netty.handler.ssl.SslContext;
import java.net.InetSocketAddress;

/**
 * The client-facing listener. Each connection gets the pipeline
 * {@code [tls] -> idle -> request-deadline -> http-codec -> keep-alive -> request-body -> exchange}.
 *
 * <p>Threading: {@link #bind} and {@link #close} from any thread; connections run on the worker group.
 */
public final class ProxyServer implements AutoCloseable {
    private final Channel channel;

    private ProxyServer(Channel channel) {
        this.channel = channel;
    }

    /** Binds the listener; {@code tls} may be null for plain HTTP. */
    public static ProxyServer bind(HostPort address, EventLoopGroup boss, EventLoopGroup workers,
                                   ProxyServices services, SslContext tls) throws InterruptedException {
        var limits = services.limits();
        // The listener's loop must run the workers' transport (its accepted channels are registered on them).
        EventLoopGroup acceptor = Transports.isEpoll(boss) == Transports.isEpoll(workers) ? boss : workers;
        ServerBootstrap b = new ServerBootstrap()
                .group(acceptor, workers)
                .channel(Transports.serverChannel(workers))
                .option(ChannelOption.SO_BACKLOG, 1024)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK,
                        new WriteBufferWaterMark(limits.writeBufferLowBytes(), limits.writeBufferHighBytes()))
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ChannelPipeline p = ch.pipeline();
                        if (tls != null) {
                            p.addLast("tls", tls.newHandler(ch.alloc()));
                        }
                        p.addLast("idle", new ClientIdleTimeout(limits.clientIdleTimeoutMillis()));
                        p.addLast("request-deadline", new RequestDeadline(limits.requestReadTimeoutMillis()));
                        p.addLast("http-codec", new HttpServerCodec(8192, limits.maxHeaderBytes(), 64 * 1024));
                        p.addLast("keep-alive", new HttpServerKeepAliveHandler());
                        p.addLast("request-body", new RequestBodyLimit(limits.maxRequestBodyBytes()));
                        p.addLast("exchange", new ClientConnectionHandler(services));
                    }
                });
        Channel ch = b.bind(address.host(), address.port()).sync().channel();
        return new ProxyServer(ch);
    }

    public int port() {
        return ((InetSocketAddress) channel.localAddress()).getPort();
    }

    public String host() {
        return ((InetSocketAddress) channel.localAddress()).getHostString();
    }

    @Override
    public void close() {
        channel.close().syncUninterruptibly();
    }
}
