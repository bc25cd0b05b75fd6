//! actix-web without any session middleware: the baseline of the actix-session variants.

use actix_web::{App, HttpServer, web};

async fn zero() -> &'static str {
    "0"
}

async fn run(args: bench_servers::Args) -> anyhow::Result<()> {
    let server = HttpServer::new(|| {
        App::new()
            .route("/bare", web::get().to(zero))
            .route("/read", web::get().to(zero))
            .route("/incr", web::get().to(zero))
    })
    .workers(bench_servers::WORKERS)
    .bind(args.listen)?;
    bench_servers::announce(server.addrs()[0])?;
    server.run().await?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = bench_servers::args();
    let result = actix_web::rt::System::new().block_on(run(args));
    bench_servers::exit_with("actix-bare", result)
}
