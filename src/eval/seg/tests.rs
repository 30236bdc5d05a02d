use super::files::{parse_stem, stream_head};
use super::*;

#[test]
fn frame_numbers_and_series_come_from_the_last_run_of_digits() {
    let p = |s: &str| parse_stem(s);
    assert_eq!(p("000042"), Some((42, "#".into())));
    assert_eq!(p("drive-lanes-000042"), Some((42, "drive-lanes-#".into())));
    assert_eq!(p("frame_42"), Some((42, "frame_#".into())));
    assert_eq!(
        p("cam2-out3-000007_mask"),
        Some((7, "cam2-out3-#_mask".into()))
    );
    assert_eq!(p("labels"), None);
    assert_eq!(p("99999999999999999999999"), None);
    assert_eq!(stream_head("drive-cam-da-#"), Some(("drive-cam", "da")));
    assert_eq!(stream_head("frame_#"), None);
    assert_eq!(stream_head("#"), None);
}

#[test]
fn iou_per_class_by_hand() {
    // gt:   0 0 1 1 2 255
    // pred: 0 1 1 1 0 2
    let mut c = Confusion::new();
    add_frame(
        &mut c,
        &[0, 0, 1, 1, 2, 255],
        &[0, 1, 1, 1, 0, 2],
        Some(255),
    );
    assert_eq!((c.pixels(), c.ignored(), c.classes()), (5, 1, 3));
    // class 0: tp 1, gt 2, pred 2 -> 1/3; class 1: tp 2, gt 2, pred 3 -> 2/3; class 2: tp 0.
    assert_eq!(
        c.ious(4),
        [Some(1.0 / 3.0), Some(2.0 / 3.0), Some(0.0), None]
    );
    assert_eq!(c.miou(4), Some(1.0 / 3.0));
    assert_eq!(c.pixel_accuracy(), Some(3.0 / 5.0));
    // The same pixels with no ignore: 255 is a class.
    let mut d = Confusion::new();
    d.add_frame(&[0, 0, 1, 1, 2, 255], &[0, 1, 1, 1, 0, 2], None);
    assert_eq!((d.pixels(), d.ignored(), d.classes()), (6, 0, 256));
    // Merging, clearing, and an ignore row that already held counts.
    d.add_frame(&[255, 3], &[255, 3], Some(255));
    assert_eq!((d.count(255, 2), d.count(255, 255), d.ignored()), (1, 0, 1));
    let mut e = Confusion::new();
    e.merge(&d);
    e.merge(&c);
    assert_eq!(e.pixels(), 7 + 5);
    assert_eq!(e.count(1, 1), 4);
    e.clear();
    assert_eq!((e.pixels(), e.classes(), e.ignored()), (0, 0, 0));
    assert!(e.counts.iter().all(|&v| v == 0));
}

#[test]
fn an_all_ignored_frame_has_no_miou() {
    let mut c = Confusion::new();
    add_frame(&mut c, &[255; 4], &[1, 2, 3, 4], Some(255));
    assert_eq!((c.pixels(), c.classes(), c.miou(5)), (0, 0, None));
    add_frame(&mut c, &[], &[], Some(255));
    assert_eq!(c.ignored(), 4);
}
