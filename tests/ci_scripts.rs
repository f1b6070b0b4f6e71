//! The CI scripts' own logic, where a mistake would change the machine: `ci/lib/apt.sh` must
//! see every package an install plan would remove or downgrade (and nothing else), since it
//! refuses such plans.

use std::process::Command;

use tcpconform_tests::repo_root;

/// What `_apt_plan_harms` says of an `apt-get -s install` plan.
fn harms(plan: &str) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg("source ci/lib/apt.sh && _apt_plan_harms \"$PLAN\"")
        .env("PLAN", plan)
        .current_dir(repo_root())
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("text")
}

#[test]
fn a_plan_that_removes_or_downgrades_is_seen_and_one_that_only_adds_is_not() {
    if Command::new("dpkg").arg("--version").output().is_err() {
        println!("SKIPPED: no dpkg here (the script is Debian's)");
        return;
    }
    // What apt printed here when qemu-system-x86 7.2 was asked for beside qemu-utils 10.0.2.
    let removes = "\
The following packages will be REMOVED:
  qemu-utils
Remv qemu-utils [1:10.0.2+ds-2+deb13u1~bpo12+1]
Inst qemu-system-common (1:7.2+dfsg-7+deb12u18+b3 Debian:12.15/oldstable [amd64])
Inst qemu-system-x86 (1:7.2+dfsg-7+deb12u18+b3 Debian:12.15/oldstable [amd64])
";
    assert_eq!(
        harms(removes),
        "remove qemu-utils 1:10.0.2+ds-2+deb13u1~bpo12+1\n"
    );
    let downgrades = "\
Inst seabios [1.16.3-2~bpo12+1] (1.16.2-1 Debian:12.15/oldstable [all])
Inst libfdt1 [1.6.1-4] (1.6.1-4+b1 Debian:12.15/oldstable [amd64])
";
    assert_eq!(
        harms(downgrades),
        "downgrade seabios 1.16.3-2~bpo12+1 -> 1.16.2-1\n",
        "an upgrade (libfdt1) is no harm"
    );
    let adds = "\
Inst qemu-system-common (1:10.0.2+ds-2+deb13u1~bpo12+1 Debian Backports:oldstable-backports [amd64])
Inst qemu-system-x86 (1:10.0.2+ds-2+deb13u1~bpo12+1 Debian Backports:oldstable-backports [amd64])
Conf qemu-system-x86 (1:10.0.2+ds-2+deb13u1~bpo12+1 Debian Backports:oldstable-backports [amd64])
";
    assert_eq!(harms(adds), "");
}
