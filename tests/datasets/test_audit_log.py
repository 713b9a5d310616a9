from forgeml.datasets import AuditLogDataset


def test_saving_appends_and_never_rewrites(tmp_path):
    path = tmp_path / "reports/audit.jsonl"
    dataset = AuditLogDataset(str(path))
    assert not dataset.exists()
    dataset.save([{"event": "gate", "version": "1"}])
    first = path.read_text()
    dataset.save([{"event": "alias moved", "version": "2"}, {"event": "alias moved", "version": "3"}])
    assert path.read_text().startswith(first)
    assert [record["version"] for record in dataset.load()] == ["1", "2", "3"]
    assert AuditLogDataset.dvc_out is False  # dvc.yaml must not list it: DVC deletes outputs before a run
