"""Data set sources on tiny trees and annotation files written by the tests, in each source's official layout."""

import pytest

from i3d_keras.data import datasets
from i3d_keras.data.datasets import LabelMap, Sample


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not decoded here")
    return str(path)


def test_label_map_lookups_and_round_trip(tmp_path):
    labels = LabelMap(["run", "jump", "swim"])
    assert labels.index("jump") == 1 and labels.index(2) == 2 and labels.index("0") == 0
    with pytest.raises(ValueError, match="unknown class 'fly'"):
        labels.index("fly")
    with pytest.raises(ValueError, match="label index 3 is outside 0..2"):
        labels.index(3)
    with pytest.raises(ValueError, match="distinct"):
        LabelMap(["a", "a"])
    labels.save(tmp_path / "labels.txt")
    assert (tmp_path / "labels.txt").read_text() == "run\njump\nswim\n"
    assert LabelMap.load(tmp_path / "labels.txt") == labels == LabelMap.of(str(tmp_path / "labels.txt"))


def test_folder_tree(tmp_path):
    a = touch(tmp_path / "walk" / "a.mp4")
    b = touch(tmp_path / "sit" / "deeper" / "b.AVI")
    touch(tmp_path / "sit" / "notes.txt")
    touch(tmp_path / "sit" / ".hidden.mp4")
    dataset = datasets.from_folder(tmp_path)
    assert dataset.labels.names == ("sit", "walk")
    assert dataset.samples == [Sample(b, 0), Sample(a, 1)]
    fixed = datasets.from_folder(tmp_path, labels=["walk", "sit", "run"])
    assert [s.label for s in fixed.samples] == [1, 0] and len(fixed.labels) == 3
    with pytest.raises(ValueError, match="no such folder"):
        datasets.from_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no videos in class sub-folders"):
        datasets.from_folder(tmp_path / "empty")


def test_csv_list_by_name_with_segments_and_missing(tmp_path):
    a = touch(tmp_path / "clips" / "a.mp4")
    b = touch(tmp_path / "clips" / "b b.mp4")
    (tmp_path / "list.csv").write_text("path,label\n# a comment\nclips/a.mp4,jump\n\"clips/b b.mp4\",run,1.5,4\nclips/gone.mp4,run\n")
    dataset = datasets.from_list(tmp_path / "list.csv")
    assert dataset.labels.names == ("jump", "run")
    assert dataset.samples == [Sample(a, 0), Sample(b, 1, 1.5, 4.0)]
    assert dataset.missing == [str(tmp_path / "clips" / "gone.mp4")]
    assert dataset.describe() == "list.csv: 2 videos, 2 classes, 1 listed videos missing"
    assert dataset.samples[1].video_id == "b b_1.5_4"


def test_whitespace_list_by_index_and_bad_lines(tmp_path):
    a = touch(tmp_path / "v" / "a.avi")
    (tmp_path / "list.txt").write_text("a.avi 3\n")
    dataset = datasets.from_list(tmp_path / "list.txt", root=tmp_path / "v")
    assert dataset.samples == [Sample(a, 3)] and dataset.labels.names == ("0", "1", "2", "3")
    (tmp_path / "bad.txt").write_text("a.avi 1\na.avi\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: expected path,label\[,start_s,end_s\]"):
        datasets.from_list(tmp_path / "bad.txt", root=tmp_path / "v")
    (tmp_path / "badlabel.txt").write_text("a.avi fly\n")
    with pytest.raises(ValueError, match="badlabel.txt:1: unknown class 'fly'"):
        datasets.from_list(tmp_path / "badlabel.txt", root=tmp_path / "v", labels=["run"])


def test_ucf101_official_split_files(tmp_path):
    videos, splits = tmp_path / "UCF-101", tmp_path / "ucfTrainTestlist"
    splits.mkdir()
    (splits / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 HandstandPushups\n3 YoYo\n")
    train = [touch(videos / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g08_c01.avi"),
             touch(videos / "HandstandPushups" / "v_HandStandPushups_g08_c01.avi")]
    test = [touch(videos / "YoYo" / "v_YoYo_g01_c01.avi")]
    # the official lists spell HandstandPushups' files with a capital S; the split must still find them
    (splits / "trainlist01.txt").write_text("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\n"
                                            "HandstandPushups/v_HandStandPushups_g08_c01.avi 2\nYoYo/v_YoYo_g09_c01.avi 3\n")
    (splits / "testlist01.txt").write_text("YoYo/v_YoYo_g01_c01.avi\r\n")
    train_set, test_set = datasets.ucf101(videos, splits, split=1)
    assert train_set.labels.names == ("ApplyEyeMakeup", "HandstandPushups", "YoYo")
    assert train_set.samples == [Sample(train[0], 0), Sample(train[1], 1)]
    assert train_set.missing == ["YoYo/v_YoYo_g09_c01.avi"]
    assert test_set.samples == [Sample(test[0], 2)] and not test_set.missing
    with pytest.raises(FileNotFoundError):
        datasets.ucf101(videos, splits, split=2)


def test_hmdb51_official_split_files(tmp_path):
    videos, splits = tmp_path / "hmdb51", tmp_path / "testTrainMulti_7030_splits"
    splits.mkdir()
    a = touch(videos / "brush_hair" / "April_09_brush_hair_u_nm_np1_ba_goo_0.avi")
    b = touch(videos / "brush_hair" / "Blonde_being_brushed_brush_hair_f_nm_np2_ri_med_0.avi")
    c = touch(videos / "cartwheel" / "Bodenturnen_2004_cartwheel_f_cm_np1_le_med_0.avi")
    touch(videos / "cartwheel" / "unused_cartwheel_0.avi")
    (splits / "brush_hair_test_split1.txt").write_text(
        "April_09_brush_hair_u_nm_np1_ba_goo_0.avi 1 \nBlonde_being_brushed_brush_hair_f_nm_np2_ri_med_0.avi 2 \n")
    (splits / "cartwheel_test_split1.txt").write_text(
        "Bodenturnen_2004_cartwheel_f_cm_np1_le_med_0.avi 1 \nunused_cartwheel_0.avi 0 \nlost_cartwheel_1.avi 2 \n")
    (splits / "cartwheel_test_split2.txt").write_text("unused_cartwheel_0.avi 1 \n")
    train, test = datasets.hmdb51(videos, splits, split=1)
    assert train.labels.names == ("brush_hair", "cartwheel")
    assert sorted(train.samples, key=lambda s: s.path) == sorted([Sample(a, 0), Sample(c, 1)], key=lambda s: s.path)
    assert test.samples == [Sample(b, 0)] and test.missing == ["lost_cartwheel_1.avi"]
    with pytest.raises(ValueError, match="no <class>_test_split3.txt files"):
        datasets.hmdb51(videos, splits, split=3)


def test_kinetics_csv_matches_downloader_names_and_counts_missing(tmp_path):
    clips = tmp_path / "clips"
    a = touch(clips / "train" / "abseiling" / "--33Lscn6sk_000004_000014.mp4")
    b = touch(clips / "zumba" / "0AGCS-kVPkM.mkv")
    (tmp_path / "train.csv").write_text(
        "label,youtube_id,time_start,time_end,split\n"
        "abseiling,--33Lscn6sk,4,14,train\nzumba,0AGCS-kVPkM,10,20,train\n"
        "\"passing American football (in game)\",gone_video1,0,10,train\n")
    dataset = datasets.kinetics(tmp_path / "train.csv", clips)
    assert dataset.labels.names == ("abseiling", "passing American football (in game)", "zumba")
    assert dataset.samples == [Sample(a, 0), Sample(b, 2)] and dataset.missing == ["gone_video1_000000_000010"]
    with_400 = datasets.kinetics(tmp_path / "train.csv", clips, labels=datasets.kinetics400_labels())
    assert [s.label for s in with_400.samples] == [0, 399] and len(with_400.labels) == 400
    (tmp_path / "test.csv").write_text("youtube_id,time_start,time_end,split\nx,0,10,test\n")
    with pytest.raises(ValueError, match="no label column"):
        datasets.kinetics(tmp_path / "test.csv", clips)
