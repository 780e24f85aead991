"""The `ingresslab` command in Chinese (INGRESSLAB_LANG=zh), run as a learner runs it — a real subprocess against a
real lab — and unchanged English when no language is set."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from ingresslab import i18n

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "ingresslab.cli"]
CJK = re.compile(r"[\u4e00-\u9fff]")


def environment(language: str | None) -> dict[str, str]:
    """This process's environment without any language setting, then `language` (None: plain English, LANG=C)."""
    env = {k: v for k, v in os.environ.items() if k not in i18n.ENV_VARIABLES}
    if language is None:
        env["LANG"] = "C.UTF-8"
    else:
        env["INGRESSLAB_LANG"] = language
    return env


def ingresslab(*args: str, language: str | None, home: Path | None = None, cwd: Path | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess:
    where = ["--home", str(home)] if home is not None else []
    return subprocess.run([*CLI, *where, *args], capture_output=True, text=True, env=environment(language), cwd=cwd,
                          timeout=timeout)


def test_plain_word_errors_in_chinese_and_in_english(tmp_path):
    home = tmp_path / "no-lab"
    status = ingresslab("status", language="zh", home=home)
    assert status.returncode == 3
    assert status.stdout == f"{home} 没有正在运行的实验环境。用这条命令启动：ingresslab up\n"
    assert ingresslab("status", language=None, home=home).stdout == \
        f"No lab is running for {home}. Start one with: ingresslab up\n"
    assert ingresslab("status", "--json", language="zh", home=home).stdout.strip() == \
        f'{{"running": false, "home": "{home}"}}'                        # machine output stays as it is

    conf = ingresslab("conf", language="zh", home=home)
    assert conf.returncode == 3 and conf.stderr == "没有正在运行的实验环境；用这条命令启动：ingresslab up\n"
    down = ingresslab("down", language="zh", home=home)
    assert down.returncode == 0 and down.stderr == "这个目录没有正在运行的实验环境。\n"

    missing = tmp_path / "missing.yaml"
    converted = ingresslab("ingress2gateway", "-f", str(missing), language="zh")
    assert converted.returncode == 1
    assert converted.stderr == f"ingresslab ingress2gateway: {missing}: 没有这个清单文件：{missing}\n"
    assert ingresslab("ingress2gateway", "-f", str(missing), language=None).stderr == \
        f"ingresslab ingress2gateway: {missing}: no such manifest file: {missing}\n"

    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Ingress\nmetadata: {name: x}\n")
    refused = ingresslab("ingress2gateway", "-f", str(bad), language="zh")
    assert refused.stderr == f"ingresslab ingress2gateway: {bad}: 清单中的每个文档都需要 `apiVersion` 和 `kind`\n"


def test_help_and_argparse_speak_chinese_but_flags_and_commands_stay(tmp_path):
    shown = ingresslab("--help", language="zh")
    assert shown.returncode == 0
    assert "一个小而真实的 Kubernetes 实验环境，用来学习 Service、NodePort 和 Ingress。" in shown.stdout
    assert re.search(r"^ +demo +一步一步演示 cafe 的故事（按 Enter 继续）$", shown.stdout, re.M)
    assert "--home HOME" in shown.stdout and "{up,down,status," in shown.stdout
    # argparse's own words too: usage, the section titles, -h's help, and its error sentences
    assert shown.stdout.startswith("用法：ingresslab [-h]") and "\n位置参数:\n" in shown.stdout
    assert "\n选项:\n" in shown.stdout and "显示这条帮助信息并退出" in shown.stdout
    typo = ingresslab("status", "--jsn", language="zh")
    assert typo.returncode == 2 and typo.stderr.endswith("ingresslab：错误：无法识别的参数：--jsn\n"), typo.stderr
    unknown = ingresslab("stauts", language="zh")
    assert "无效的选择：'stauts'（可选：" in unknown.stderr and "'status'" in unknown.stderr
    english = ingresslab("--help", language=None)
    assert english.stdout.startswith("usage: ingresslab") and "\noptions:\n" in english.stdout
    assert "A small, real Kubernetes lab for Service, NodePort and Ingress." in english.stdout
    assert not CJK.search(english.stdout)
    assert ingresslab("stauts", language=None).stderr.endswith(
        "error: argument command: invalid choice: 'stauts' (choose from 'up', 'down', 'status', 'kubeconfig', "
        "'iptables', 'reset', 'conf', 'demo', 'ingress2gateway', 'controller')\n")


def test_up_on_a_running_lab_reports_in_chinese(lab):
    up = ingresslab("up", language="zh", home=lab.home)
    assert up.returncode == 0, up.stderr
    lines = up.stderr.splitlines()
    assert lines[0] == f"正在 {lab.home} 中启动实验环境 …"
    assert re.fullmatch(r"  实验环境已在运行（pid \d+）", lines[1]), lines
    assert re.fullmatch(r"已就绪，用时 \d+\.\d 秒（实验进程 pid \d+）。API https://127\.0\.0\.1:\d+", lines[2]), lines
    assert re.fullmatch(r"  节点 node-1   127\.0\.\d+\.1", lines[3]), lines
    assert lines[-1] == f"这样使用 kubectl：  export KUBECONFIG={lab.kubeconfig_path}"

    english = ingresslab("up", language=None, home=lab.home).stderr.splitlines()
    assert english[0] == f"Starting the lab in {lab.home} …"
    assert re.fullmatch(r"  lab already running \(pid \d+\)", english[1]) and english[2].startswith("Ready in ")
    assert re.fullmatch(r"  node node-1   127\.0\.\d+\.1", english[3]), english

    status = ingresslab("status", language="zh", home=lab.home)
    assert status.returncode == 0 and status.stdout.startswith("实验环境正在运行（pid ")
    assert re.search(r"^  ingress     http NodePort \d+，https NodePort \d+（重载次数：\d+）$", status.stdout, re.M)


def test_the_demo_narrates_in_chinese_and_draws_chinese_labels(tmp_path):
    home, where = tmp_path / "demo-home", tmp_path / "a-checkout"
    where.mkdir()
    try:
        proc = ingresslab("demo", "--auto", language="zh", home=home, cwd=where, timeout=180)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out = proc.stdout
        for heading in ("1. 集群  两个节点；每个节点都是本机的一个回环地址。", "2. Ingress 控制器", "6. 来杯咖啡",
                        "7. 为什么要 --insecure？", "9. 三跳  一个请求，沿着各组件的日志一路追踪。"):
            assert heading in out, out
        assert "$ kubectl get nodes -o wide" in out and "STATUS" in out        # kubectl's own words stay
        assert "curl: (60) SSL certificate problem" in out                     # and curl's
        picture = home / "demo" / "three-hops.svg"
        assert f"这个请求的示意图保存在 {picture.resolve()}" in out
        assert list(where.iterdir()) == []
        words = re.findall(r"<text[^>]*>([^<]*)</text>", picture.read_text().replace("&#45;", "-"))
        assert {"客户端", "kube-proxy", "nginx", "Pod"} <= set(words), words
        assert any(w.startswith("来自 ") for w in words) and any("由 coffee-" in w for w in words)
    finally:
        ingresslab("down", language=None, home=home)


def test_the_language_option_outranks_the_environment_and_names_the_choices(tmp_path):
    home = tmp_path / "no-lab"
    for args in (("--language", "zh", "status"), ("status", "--language=zh")):
        chosen = ingresslab(*args, language=None, home=home)
        assert chosen.stdout == f"{home} 没有正在运行的实验环境。用这条命令启动：ingresslab up\n", args
    english = ingresslab("--language", "en", "status", language="zh", home=home)
    assert english.stdout == f"No lab is running for {home}. Start one with: ingresslab up\n"
    helped = ingresslab("--language", "zh", "--help", language=None)
    assert "实验环境对你使用的语言" in helped.stdout
    unknown = ingresslab("--language", "klingon", "status", language=None, home=home)
    assert unknown.returncode == 2
    assert unknown.stderr == "ingresslab: language 'klingon' is not one the lab speaks; choose one of: en, zh\n"


def test_a_home_that_is_a_file_is_refused_in_the_learners_language(tmp_path):
    home = tmp_path / "a-file"
    home.write_text("")
    chinese = ingresslab("up", language="zh", home=home)
    assert chinese.returncode == 1
    assert chinese.stderr.endswith(f"ingresslab: 实验环境的主目录 {home} 不是一个目录；请用 --home 换一个\n"), chinese.stderr
    english = ingresslab("up", language=None, home=home)
    assert english.stderr.endswith(f"ingresslab: the lab's home {home} is not a directory; choose another with "
                                   "--home\n"), english.stderr


def test_an_abbreviated_language_option_is_honoured_too(tmp_path):
    home = tmp_path / "no-lab"
    short = ingresslab("--lang", "zh", "status", language=None, home=home)
    assert short.stdout == f"{home} 没有正在运行的实验环境。用这条命令启动：ingresslab up\n", short.stdout + short.stderr
    typo = ingresslab("status", "--lang=klingon", language=None, home=home)
    assert typo.returncode == 2 and "choose one of: en, zh" in typo.stderr


def test_the_lab_scripts_own_sentences_follow_the_language_and_a_wrong_key_fails():
    say = [sys.executable, "-m", "ingresslab.say"]
    zh = subprocess.run([*say, "url", "url=http://127.0.0.1:8888/lab?token=t"], capture_output=True, text=True,
                        env=environment("zh"), timeout=30)
    assert zh.stdout == ("lab：JupyterLab 的地址是 http://127.0.0.1:8888/lab?token=t（按两次 Ctrl-C，或者 File > Shut Down，"
                         "先停止 JupyterLab，再停止实验环境）\n")
    en = subprocess.run([*say, "stopping"], capture_output=True, text=True, env=environment(None), timeout=30)
    assert en.stdout == "lab: JupyterLab has stopped; stopping the lab it started (ingresslab down)\n"
    wrong = subprocess.run([*say, "stoping"], capture_output=True, text=True, env=environment(None), timeout=30)
    assert wrong.returncode == 2 and "url,stopping,keeps-running,untrusted" in wrong.stderr
    script = (ROOT / "lab").read_text()
    used = set(re.findall(r"\bsay ([a-z-]+)", script))
    assert used == {"url", "stopping", "keeps-running", "untrusted"}, used       # every key the script uses exists
