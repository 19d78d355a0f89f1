//! Every Pincer service in one executable. Which one runs is the name it is started under (the
//! file name of its first argument, `argv[0]`): a `pincer-gateway` link to the file runs the
//! gateway, and so does `pincer dev` starting the file with `arg0` set. Started under any other
//! name (a container's `/usr/local/bin/service`), it runs the service that [`SERVICE_VAR`] names.
//! Every other argument (`healthcheck`, ...) means what it means to the service's own binary.
//!
//! Why one file: processes started from the same file share its code in memory. Five binaries each
//! carry their own copy of tokio, hyper, tonic, async-nats and serde, and on Linux a process maps
//! most of its binary's code at startup, so each service paid for that copy again. Containers
//! share it too when their images share the layer that holds the file.
//!
//! Two executables are built from this: `pincer-services` with all five services (`pincer dev`,
//! the native install) and `pincer-turn-services` with the three every turn passes through, for
//! their images.

use std::path::Path;
use std::process::ExitCode;

use pincer_service_launcher::Launched;

/// A service's `main`.
pub type Main = fn() -> ExitCode;

/// The variable naming the service to run when the executable is started under a name that is no
/// service's, as in the images, which all start `/usr/local/bin/service`.
pub const SERVICE_VAR: &str = "PINCER_SERVICE";

/// Runs the service of `services` (by binary name) that this process was started as.
pub fn run(services: &[(&str, Main)]) -> ExitCode {
    let arg0 = std::env::args_os().next().unwrap_or_default();
    let mut name = Path::new(&arg0)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let names: Vec<&str> = services.iter().map(|(binary, _)| *binary).collect();
    // `pincer dev` forks the services from one process of this file (see pincer-service-launcher).
    if name == pincer_service_launcher::LAUNCHER_NAME {
        match pincer_service_launcher::serve(&names) {
            Ok(Launched::Service(service)) => name = service,
            Ok(Launched::Done) => return ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("{}: {error}", pincer_service_launcher::LAUNCHER_NAME);
                return ExitCode::FAILURE;
            }
        }
    } else if !names.contains(&name.as_str())
        && let Some(named) = std::env::var_os(SERVICE_VAR)
    {
        let named = named.to_string_lossy().into_owned();
        if !names.contains(&named.as_str()) {
            eprintln!(
                "{}: {SERVICE_VAR}={named:?} names no service here; one of: {}",
                Path::new(&arg0).display(),
                names.join(", ")
            );
            return ExitCode::from(2);
        }
        name = named;
    }
    let Some((binary, main)) = services.iter().find(|(binary, _)| *binary == name) else {
        eprintln!(
            "{}: started as {name:?}; start it under one of these names (a link named so, or \
             argv[0]), or name one in {SERVICE_VAR}: {}",
            Path::new(&arg0).display(),
            names.join(", ")
        );
        return ExitCode::from(2);
    };
    name_process(binary);
    main()
}

/// The kernel names a process after the file it executed: ps, top and the benchmarks' process
/// table should say which service this one is. Best effort (the kernel keeps 15 bytes).
fn name_process(binary: &str) {
    let _ = std::fs::write("/proc/self/comm", binary);
}
