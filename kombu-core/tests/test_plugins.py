"""The plugin system: hooks, entry points, Kombu 5 module paths, import cost."""

from __future__ import annotations

import subprocess
import sys

import pytest
from kombu import Connection, plugins
from kombu.hookspecs import Capabilities, TransportInfo, hookimpl
from kombu.plugins import PluginConflict, Registry


def test_builtins_come_through_the_hooks():
    reg = plugins.registry()
    assert reg.transports["memory"].target == "kombu.transport.memory:Transport"
    assert {"json", "pickle", "yaml", "msgpack"} <= set(reg.serializers)
    assert {"zlib", "bzip2", "lzma"} <= set(reg.compressors)


def test_third_party_plugin_registered_at_run_time():
    class Plugin:
        @hookimpl
        def kombu_transports(self):
            return [
                TransportInfo(
                    name="thirdparty",
                    schemes=("thirdparty",),
                    target="kombu.transport.memory:Transport",
                    distribution="acme-kombu",
                    capabilities=Capabilities(exchange_types=frozenset({"direct"})),
                )
            ]

    plugin = Plugin()
    plugins.register(plugin, name="acme")
    try:
        with Connection("thirdparty://") as conn:
            assert conn.capabilities.exchange_types == frozenset({"direct"})
            conn.default_channel.queue_declare("tp.q")
            with pytest.raises(NotImplementedError):
                conn.default_channel.queue_declare("tp.q2", arguments={"x-max-priority": 5})
    finally:
        plugins.plugin_manager().unregister(plugin)
        plugins.reset()


def test_two_plugins_claiming_a_scheme_is_an_error():
    reg = Registry()
    reg.add_transport(TransportInfo("a", ("x",), "a:T", "dist-a"))
    with pytest.raises(PluginConflict, match="dist-a.*dist-b"):
        reg.add_transport(TransportInfo("b", ("x",), "b:T", "dist-b"))


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout


def test_import_kombu_imports_no_broker_client_nor_plugins():
    # typing is here too: importing it costs more than the rest of `import kombu`.
    out = _run(
        "import sys, kombu\n"
        "heavy = {'redis', 'amqp', 'pika', 'boto3', 'botocore', 'pymongo', 'greenstalk', 'requests', 'pluggy',"
        " 'typing', 'logging', 'socket'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    assert out.strip() == "[]"


def test_connection_imports_only_its_own_client():
    out = _run(
        "import sys\nfrom kombu import Connection\n"
        "Connection('memory://').default_channel\n"
        "print(sorted(m for m in ('redis', 'amqp', 'pika', 'boto3', 'pymongo') if m in sys.modules))"
    )
    assert out.strip() == "[]"


def test_python_m_kombu_lists_memory_serializers_compressors():
    out = subprocess.run([sys.executable, "-m", "kombu"], check=True, capture_output=True, text=True).stdout
    assert "memory://" in out
    for name in ("json", "pickle", "zlib", "bzip2", "lzma"):
        assert name in out


def test_kombu5_module_paths_resolve_to_the_plugin_module():
    reg = plugins.registry()
    for info in reg.unique_transports():
        for alias in info.kombu_modules:
            out = _run(f"import kombu.transport.{alias} as m, {info.module} as real; print(m is real)")
            assert out.strip() == "True", (alias, info.module)


def test_unknown_kombu_module_path_fails_cleanly():
    with pytest.raises(ModuleNotFoundError):
        __import__("kombu.transport.nosuchthing")


def _install_fake_plugins(tmp_path, monkeypatch, modules: dict[str, str]) -> None:
    """Make a distribution ``kombu-fake-plugins`` announcing ``modules`` in the ``kombu`` group."""
    dist_info = tmp_path / "kombu_fake_plugins-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: kombu-fake-plugins\nVersion: 1.0\n")
    lines = ["[kombu]"] + [f"{name} = {name}" for name in modules]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for name, source in modules.items():
        (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))


def test_broken_plugins_are_reported_by_name_and_left_out(tmp_path, monkeypatch):
    from kombu import plugins

    header = "from kombu.hookspecs import hookimpl, TransportInfo\n"
    _install_fake_plugins(
        tmp_path,
        monkeypatch,
        {
            "fake_misspelled": header + "@hookimpl\ndef kombu_transport():\n    return []\n",
            "fake_wrong_type": header + "@hookimpl\ndef kombu_transports():\n    return ['fake://']\n",
            "fake_raises": header + "@hookimpl\ndef kombu_serializers():\n    raise RuntimeError('boom')\n",
            "fake_unimportable": "import no_such_module_here\n",
            "fake_good": header
            + (
                "@hookimpl\ndef kombu_transports():\n    return [TransportInfo("
                "name='fake', schemes=('fake',), target='x:Y', distribution='kombu-fake-plugins')]\n"
            ),
        },
    )
    plugins.reset()
    try:
        reg = plugins.registry()
        reasons = {f.plugin: (f.distribution, f.reason) for f in reg.failures}
        assert reasons["fake_misspelled"][0] == "kombu-fake-plugins"
        assert "unknown hook(s) kombu_transport" in reasons["fake_misspelled"][1]
        assert "must return a sequence of TransportInfo, got a str" in reasons["fake_wrong_type"][1]
        assert "kombu_serializers() raised RuntimeError: boom" in reasons["fake_raises"][1]
        assert "cannot be imported: ModuleNotFoundError" in reasons["fake_unimportable"][1]
        assert "fake" in reg.transports and "memory" in reg.transports and "json" in reg.serializers
        import io

        from kombu.__main__ import describe

        out = io.StringIO()
        describe(out)
        assert "Plugins left out:" in out.getvalue()
        assert "plugin 'fake_misspelled' (distribution kombu-fake-plugins): unknown hook" in out.getvalue()
    finally:
        monkeypatch.undo()
        plugins.reset()
